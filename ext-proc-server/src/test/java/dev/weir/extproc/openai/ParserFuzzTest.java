package dev.weir.extproc.openai;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * A bounded mutation fuzzer over what clients and backends control: request bodies
 * (ParsedRequest) and SSE streams (SseParser). Seeds are valid inputs; each round flips, inserts,
 * deletes, duplicates and splices bytes. The parsers must answer every input with a result (Ok or
 * Invalid; events whose bytes add up to the stream), never an exception. Deterministic by default
 * (fixed seed, fixed rounds); {@code -Dweir.fuzz.rounds=N -Dweir.fuzz.seed=S} runs longer.
 */
class ParserFuzzTest {
  static final long SEED = Long.getLong("weir.fuzz.seed", 20261126L);
  static final int ROUNDS = Integer.getInteger("weir.fuzz.rounds", 4000);

  static final List<String> BODIES = List.of(
      "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
      "{\"model\":\"gpt-4o\",\"stream\":true,\"stream_options\":{\"include_usage\":true},\"max_tokens\":5,"
          + "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
          + "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://x/y.png\",\"detail\":\"low\"}}]}],"
          + "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{}}}],\"n\":2}",
      "{\"model\":\"text-embedding-3-small\",\"input\":[\"a\",\"b\"]}",
      "{\"model\":\"m\",\"prompt\":[[1,2,3],[4]],\"max_tokens\":1}");
  static final String SSE = "data: {\"id\":\"1\",\"choices\":[{\"delta\":{\"content\":\"hé\"}}]}\r\n\r\n"
      + ": keep-alive\n\nevent: x\ndata: {\"usage\":{\"prompt_tokens\":3}}\n\ndata: [DONE]\n\n";

  static byte[] mutate(Random r, byte[] in, List<byte[]> corpus) {
    byte[] b = in;
    int steps = 1 + r.nextInt(6);
    for (int s = 0; s < steps; s++) {
      int pos = b.length == 0 ? 0 : r.nextInt(b.length);
      switch (r.nextInt(6)) {
        case 0 -> { // flip a byte
          if (b.length > 0) {
            b = b.clone();
            b[pos] = (byte) r.nextInt(256);
          }
        }
        case 1 -> { // insert an interesting byte
          byte[] pick = {'{', '}', '[', ']', '"', ':', ',', '\\', '\n', '\r', 0, (byte) 0xC3, (byte) 0xFF, '9', '-', 'e'};
          b = splice(b, pos, 0, new byte[] {pick[r.nextInt(pick.length)]});
        }
        case 2 -> b = splice(b, pos, Math.min(b.length - pos, 1 + r.nextInt(8)), new byte[0]); // delete
        case 3 -> { // duplicate a run (nesting, repetition)
          int len = Math.min(b.length - pos, 1 + r.nextInt(32));
          byte[] run = Arrays.copyOfRange(b, pos, pos + len);
          byte[] rep = new byte[run.length * (1 + r.nextInt(20))];
          for (int i = 0; i < rep.length; i++) {
            rep[i] = run[i % Math.max(1, run.length)];
          }
          b = splice(b, pos, 0, rep);
        }
        case 4 -> { // splice in part of another seed
          byte[] other = corpus.get(r.nextInt(corpus.size()));
          int from = r.nextInt(other.length);
          b = splice(b, pos, 0, Arrays.copyOfRange(other, from, Math.min(other.length, from + 1 + r.nextInt(40))));
        }
        default -> b = Arrays.copyOf(b, pos); // truncate
      }
    }
    return b;
  }

  static byte[] splice(byte[] b, int at, int remove, byte[] insert) {
    byte[] out = new byte[b.length - remove + insert.length];
    System.arraycopy(b, 0, out, 0, at);
    System.arraycopy(insert, 0, out, at, insert.length);
    System.arraycopy(b, at + remove, out, at + insert.length, b.length - at - remove);
    return out;
  }

  @Test
  void everyMutatedRequestBodyIsParsedOrRefusedNeverThrown() {
    Random r = new Random(SEED);
    List<byte[]> corpus = BODIES.stream().map(s -> s.getBytes(StandardCharsets.UTF_8)).toList();
    for (int round = 0; round < ROUNDS; round++) {
      byte[] input = mutate(r, corpus.get(r.nextInt(corpus.size())), corpus);
      for (Endpoint e : List.of(Endpoint.CHAT_COMPLETIONS, Endpoint.COMPLETIONS, Endpoint.EMBEDDINGS)) {
        try {
          assertNotNull(ParsedRequest.parse(e, input));
        } catch (RuntimeException | StackOverflowError ex) {
          throw new AssertionError("seed " + SEED + " round " + round + " " + e + " threw on: "
              + new String(input, StandardCharsets.UTF_8), ex);
        }
      }
    }
  }

  @Test
  void everyMutatedEventStreamSplitAnywhereKeepsItsBytesAndNeverThrows() {
    Random r = new Random(SEED + 1);
    List<byte[]> corpus = List.of(SSE.getBytes(StandardCharsets.UTF_8));
    for (int round = 0; round < ROUNDS; round++) {
      byte[] input = mutate(r, corpus.get(0), corpus);
      SseParser parser = new SseParser(1 << 20);
      ByteArrayOutputStream seen = new ByteArrayOutputStream();
      try {
        int from = 0;
        while (from < input.length) {
          int to = Math.min(input.length, from + 1 + r.nextInt(17));
          parser.feed(Arrays.copyOfRange(input, from, to)).forEach(ev -> seen.writeBytes(ev.raw()));
          from = to;
        }
        parser.finish().forEach(ev -> seen.writeBytes(ev.raw()));
      } catch (RuntimeException ex) {
        throw new AssertionError("seed " + SEED + " round " + round + " threw on: "
            + new String(input, StandardCharsets.UTF_8), ex);
      }
      assertArrayEquals(input, seen.toByteArray(), "round " + round + ": the events are the stream, byte for byte");
    }
  }
}
