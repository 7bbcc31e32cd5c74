package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.weir.config.ApiKeys;
import dev.weir.testkit.ExchangeResponse;
import dev.weir.testkit.RedisServerProcess;
import dev.weir.testkit.ScriptedUpstream;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Redis is killed while requests flow: a fail-closed limit answers 503, a fail-open limit keeps
 * counting in-process (and says so in a metric); both recover by themselves when Redis is back.
 */
class RedisOutageIT {
  static final String CHAT = "{\"model\":\"m\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  static final ObjectMapper JSON = new ObjectMapper();

  RedisServerProcess redis;
  ScriptedUpstream upstream;
  Gateway gw;

  @BeforeEach
  void start() throws Exception {
    redis = new RedisServerProcess();
    upstream = new ScriptedUpstream("up");
    gw = new Gateway(yamlFor(redis.uri()), upstream);
  }

  @AfterEach
  void stop() throws Exception {
    gw.close();
    upstream.close();
    redis.close();
  }

  @Test
  void killedRedisFailsClosedOrOpenPerLimitAndBothRecover() throws Exception {
    assertEquals(200, gw.chat("sk-closed", CHAT).status());
    assertEquals(200, gw.chat("sk-open", CHAT).status());

    // Load from both consumers while Redis dies.
    AtomicBoolean running = new AtomicBoolean(true);
    AtomicInteger closed503 = new AtomicInteger();
    AtomicInteger open200 = new AtomicInteger();
    AtomicInteger unexpected = new AtomicInteger();
    ExecutorService pool = Executors.newFixedThreadPool(4);
    List<Future<?>> senders = new ArrayList<>();
    for (String key : List.of("sk-closed", "sk-open", "sk-closed", "sk-open")) {
      senders.add(pool.submit(() -> {
        while (running.get()) {
          ExchangeResponse r = gw.chat(key, CHAT);
          if (key.equals("sk-closed") && r.status() == 503) {
            closed503.incrementAndGet();
          } else if (key.equals("sk-open") && r.status() == 200) {
            open200.incrementAndGet();
          } else if (r.status() != 200) {
            unexpected.incrementAndGet();
          }
        }
        return null;
      }));
    }
    Thread.sleep(300);
    redis.kill();
    Thread.sleep(1500);
    int open200WhileDown = open200.get();

    ExchangeResponse closed = gw.chat("sk-closed", CHAT);
    assertEquals(503, closed.status(), closed.toString());
    assertEquals("limit_store_unavailable", JSON.readTree(closed.body()).path("error").path("code").asText());
    assertEquals("1", closed.header("retry-after"));
    assertEquals(200, gw.chat("sk-open", CHAT).status(), "fail-open keeps serving");
    assertTrue(closed503.get() > 0, "fail-closed answered 503 during the outage");

    // Fail-open still limits, with this replica's own counters.
    int smallServed = 0;
    for (int i = 0; i < 20; i++) {
      if (gw.chat("sk-small", CHAT).status() == 200) {
        smallServed++;
      }
    }
    assertTrue(smallServed > 0 && smallServed < 20, "local fallback still enforces 200 TPM: " + smallServed);
    String metrics = gw.metricsContaining("mode=\"fail_open\"");
    assertTrue(metrics.contains("weir_limiter_store_errors_total{limit=\"lenient\",mode=\"fail_open\"}"), metrics);
    assertTrue(metrics.contains("weir_limiter_store_errors_total{limit=\"strict\",mode=\"fail_closed\"}"), metrics);

    redis.start(); // same port, empty
    long recovered = -1;
    long t0 = System.currentTimeMillis();
    while (System.currentTimeMillis() - t0 < 20_000) {
      if (gw.chat("sk-closed", CHAT).status() == 200) {
        recovered = System.currentTimeMillis() - t0;
        break;
      }
      Thread.sleep(100);
    }
    running.set(false);
    for (Future<?> f : senders) {
      f.get();
    }
    pool.shutdown();
    assertTrue(recovered >= 0, "fail-closed recovered by itself once Redis was back");
    assertTrue(redis.command("DBSIZE").startsWith(":") && !redis.command("DBSIZE").equals(":0"),
        "counters are in Redis again, not only in-process");
    assertEquals(0, unexpected.get(), "no other failure than the chosen mode's");
    assertTrue(open200.get() > open200WhileDown || open200WhileDown > 0);
    System.out.println("outage: fail-closed answered 503 " + closed503.get() + " times, fail-open served "
        + open200.get() + "; recovered " + recovered + " ms after Redis restarted");
  }

  @Test
  void gatewayStartsWhileRedisIsDownAndUsesItOnceItIsUp() throws Exception {
    gw.close();
    redis.kill();
    gw = new Gateway(yamlFor(redis.uri()), upstream);
    assertEquals(503, gw.chat("sk-closed", CHAT).status());
    assertEquals(200, gw.chat("sk-open", CHAT).status());
    redis.start();
    Thread.sleep(1100); // the store retries the first connection at most once a second
    assertEquals(200, gw.chat("sk-closed", CHAT).status());
  }

  private static String yamlFor(String uri) {
    return """
        backends: [ { name: local, provider: openai-compatible, url: UPSTREAM } ]
        pools: [ { name: p, members: [ { backend: local } ] } ]
        models: [ { name: m, pool: p } ]
        limits:
          - { name: strict, tokensPerMinute: 1000000, onStoreFailure: closed }
          - { name: lenient, tokensPerMinute: 1000000, onStoreFailure: open }
          - { name: lenient-small, tokensPerMinute: 200, onStoreFailure: open }
        consumers:
          - { name: closed, keys: [ "%s" ], models: [ "*" ], limits: [ strict ] }
          - { name: open, keys: [ "%s" ], models: [ "*" ], limits: [ lenient ] }
          - { name: small, keys: [ "%s" ], models: [ "*" ], limits: [ lenient-small ] }
        redis: { uri: "%s", timeoutMillis: 200 }
        """.formatted(ApiKeys.hash("sk-closed"), ApiKeys.hash("sk-open"), ApiKeys.hash("sk-small"), uri);
  }
}
