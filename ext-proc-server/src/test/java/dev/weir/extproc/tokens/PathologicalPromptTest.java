package dev.weir.extproc.tokens;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;
import dev.weir.extproc.openai.Endpoint;
import dev.weir.extproc.openai.ParsedRequest;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/**
 * Prompts built to make BPE slow (one character repeated) cost bounded work, and one consumer's
 * large prompts cannot queue ahead of another consumer's. Proven by what reaches the encoder, not
 * by timing.
 */
class PathologicalPromptTest {
  static final Encoding O200K = Encodings.newDefaultEncodingRegistry().getEncoding(EncodingType.O200K_BASE);

  /** The real encoding, reporting every piece it is asked to count. */
  static Encoding watching(Consumer<String> seen) {
    return (Encoding) Proxy.newProxyInstance(Encoding.class.getClassLoader(), new Class<?>[] {Encoding.class},
        (proxy, method, args) -> {
          if (method.getName().equals("countTokensOrdinary")) {
            seen.accept((String) args[0]);
          }
          return method.invoke(O200K, args);
        });
  }

  static ParsedRequest chat(String content) {
    String json = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"" + content + "\"}]}";
    return ((ParsedRequest.Ok) ParsedRequest.parse(Endpoint.CHAT_COMPLETIONS, json.getBytes(StandardCharsets.UTF_8)))
        .request();
  }

  @Test
  void aMegabyteOfOneCharacterReachesTheEncoderInBoundedPieces() {
    AtomicInteger longest = new AtomicInteger();
    AtomicInteger total = new AtomicInteger();
    TokenCounter counter = new TokenCounter(Map.of(), 765, m -> watching(piece -> {
      longest.accumulateAndGet(piece.length(), Math::max);
      total.addAndGet(piece.length());
    }));
    int tokens = counter.promptTokens(chat("x".repeat(4 * 1024 * 1024)));
    assertTrue(longest.get() <= TokenCounter.CHUNK_CHARS, "longest piece " + longest.get());
    assertTrue(total.get() <= TokenCounter.EXACT_CHARS + 64, "characters encoded " + total.get());
    assertTrue(tokens > 4 * 1024 * 1024 / 1024, "a huge prompt still counts as huge: " + tokens);
  }

  @Test
  void chunkingKeepsOrdinaryTextCountsWithinAFewTokens() {
    String prose = "The quick brown fox jumps over the lazy dog, then files a report about it. ".repeat(400);
    int exact = O200K.countTokensOrdinary(prose);
    int chunked = TokenCounter.text(O200K, prose);
    assertTrue(chunked >= exact && chunked <= exact + prose.length() / TokenCounter.CHUNK_CHARS + 1,
        exact + " exact, " + chunked + " chunked");
    String huge = prose.repeat(20); // past EXACT_CHARS: head and tail counted, middle estimated
    int estimated = TokenCounter.text(O200K, huge);
    int truth = O200K.countTokensOrdinary(huge);
    assertTrue(Math.abs(estimated - truth) <= truth / 50, truth + " true, " + estimated + " estimated");
  }

  @Test
  void anotherConsumersLargePromptIsCountedBeforeTheFloodersNextOne() throws Exception {
    CountDownLatch firstStarted = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    List<String> order = new CopyOnWriteArrayList<>();
    TokenCounter counter = new TokenCounter(Map.of(), 765, m -> watching(piece -> {
      if (piece.length() < 2 || !piece.substring(0, 2).matches("[ab][0-9]")) {
        return; // the role, or a later chunk of a prompt
      }
      String who = piece.substring(0, 2);
      if (!order.contains(who)) {
        order.add(who);
      }
      if (who.equals("a1")) {
        firstStarted.countDown();
        try {
          release.await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
    }));
    String big = " word".repeat(TokenCounter.OFFLOAD_CHARS / 5 + 10);
    Thread a1 = Thread.ofVirtual().start(() -> counter.promptTokens("flooder", chat("a1" + big)));
    assertTrue(firstStarted.await(10, TimeUnit.SECONDS));
    List<Thread> flood = new java.util.ArrayList<>();
    for (int i = 2; i <= 7; i++) {
      String id = "a" + i;
      flood.add(Thread.ofVirtual().start(() -> counter.promptTokens("flooder", chat(id + big))));
    }
    Thread.sleep(100); // let the flood reach the per-consumer gate
    Thread b = Thread.ofVirtual().start(() -> counter.promptTokens("other", chat("b1" + big)));
    Thread.sleep(100); // let b reach the pool queue
    release.countDown();
    a1.join();
    b.join();
    for (Thread t : flood) {
      t.join();
    }
    assertEquals("a1", order.get(0));
    assertEquals("b1", order.get(1), "the other consumer's prompt went next, not the flood: " + order);
  }
}
