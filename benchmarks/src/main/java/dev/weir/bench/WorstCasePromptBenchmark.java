package dev.weir.bench;

import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;
import dev.weir.extproc.openai.Endpoint;
import dev.weir.extproc.openai.ParsedRequest;
import dev.weir.extproc.tokens.TokenCounter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Worst-case prompts for token counting: inputs that make BPE slow (one character repeated, no
 * whitespace), counted by plain jtokkit and by Weir's bounded TokenCounter; then the latency of
 * one consumer's ordinary large prompts while another consumer floods the gateway with 4 MB of
 * "x". Usage: {@code java -cp benchmarks.jar dev.weir.bench.WorstCasePromptBenchmark}.
 */
public final class WorstCasePromptBenchmark {
  public static void main(String[] args) throws Exception {
    System.out.printf("JVM %s, %d cores%n%n", Runtime.version(), Runtime.getRuntime().availableProcessors());
    Encoding enc = Encodings.newDefaultEncodingRegistry().getEncoding(EncodingType.O200K_BASE);
    TokenCounter counter = new TokenCounter(Map.of(), 765);
    Random random = new Random(42);
    StringBuilder noSpace = new StringBuilder();
    while (noSpace.length() < 1024 * 1024) {
      noSpace.append((char) ('a' + random.nextInt(26)));
    }
    List<Object[]> inputs = List.of(
        new Object[] {"64 KiB of \"x\"", "x".repeat(64 * 1024), true},
        new Object[] {"256 KiB of \"x\"", "x".repeat(256 * 1024), true},
        new Object[] {"1 MiB of \"x\"", "x".repeat(1024 * 1024), true},
        new Object[] {"4 MiB of \"x\"", "x".repeat(4 * 1024 * 1024), false},
        new Object[] {"1 MiB of random letters, no spaces", noSpace.toString(), true},
        new Object[] {"4 MiB of prose", "The quick brown fox jumps over the lazy dog. ".repeat(4 * 1024 * 1024 / 45), true});
    System.out.println("| input | jtokkit whole-text median ms | weir TokenCounter median ms | p90 ms | tokens (jtokkit / weir) |");
    System.out.println("|---|---:|---:|---:|---|");
    for (Object[] in : inputs) {
      String text = (String) in[1];
      boolean raw = (Boolean) in[2];
      ParsedRequest request = chat(text);
      for (int w = 0; w < 2; w++) {
        counter.promptTokens(request);
      }
      long[] weir = new long[7];
      int weirTokens = 0;
      for (int i = 0; i < weir.length; i++) {
        long t0 = System.nanoTime();
        weirTokens = counter.promptTokens(request);
        weir[i] = System.nanoTime() - t0;
      }
      Arrays.sort(weir);
      String rawMs = "not run (seconds)";
      String rawTokens = "-";
      if (raw) {
        long[] plain = new long[3];
        int tokens = 0;
        for (int i = 0; i < plain.length; i++) {
          long t0 = System.nanoTime();
          tokens = enc.countTokensOrdinary(text);
          plain[i] = System.nanoTime() - t0;
        }
        Arrays.sort(plain);
        rawMs = String.format("%.1f", plain[1] / 1e6);
        rawTokens = String.format("%,d", tokens);
      }
      System.out.printf("| %s | %s | %.1f | %.1f | %s / %,d |%n", in[0], rawMs, weir[3] / 1e6, weir[5] / 1e6,
          rawTokens, weirTokens);
    }
    System.out.println();
    starvation(counter);
  }

  static ParsedRequest chat(String content) {
    String json = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"" + content + "\"}]}";
    return ((ParsedRequest.Ok) ParsedRequest.parse(Endpoint.CHAT_COMPLETIONS, json.getBytes(StandardCharsets.UTF_8)))
        .request();
  }

  /** A victim's 64 KiB prompts, alone and while 7 flooder requests of 4 MiB "x" run at once. */
  static void starvation(TokenCounter counter) throws Exception {
    ParsedRequest victim = chat("An ordinary question about the quarterly figures. ".repeat(64 * 1024 / 50));
    ParsedRequest flood = chat("x".repeat(4 * 1024 * 1024));
    System.out.println("| scenario | victim prompts | median ms | p90 ms | max ms |");
    System.out.println("|---|---:|---:|---:|---:|");
    report("victim alone", measure(counter, victim, 40));
    AtomicBoolean stop = new AtomicBoolean();
    List<Thread> flooders = new ArrayList<>();
    for (int i = 0; i < 7; i++) {
      flooders.add(Thread.ofVirtual().start(() -> {
        while (!stop.get()) {
          counter.promptTokens("flooder", flood);
        }
      }));
    }
    Thread.sleep(500);
    report("victim while 7 x 4 MiB \"x\" flood", measure(counter, victim, 40));
    stop.set(true);
    for (Thread t : flooders) {
      t.join();
    }
  }

  static long[] measure(TokenCounter counter, ParsedRequest victim, int n) {
    long[] out = new long[n];
    for (int i = 0; i < n; i++) {
      long t0 = System.nanoTime();
      counter.promptTokens("victim", victim);
      out[i] = System.nanoTime() - t0;
    }
    Arrays.sort(out);
    return out;
  }

  static void report(String scenario, long[] ns) {
    System.out.printf("| %s | %d | %.1f | %.1f | %.1f |%n", scenario, ns.length, ns[ns.length / 2] / 1e6,
        ns[(int) (ns.length * 0.9)] / 1e6, ns[ns.length - 1] / 1e6);
  }
}
