package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.ApiKeys;
import dev.weir.testkit.ExchangeResponse;
import dev.weir.testkit.RedisServerProcess;
import dev.weir.testkit.ScriptedUpstream;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Three ext-proc-server replicas share one real Redis. Many consumers send concurrently through
 * all of them; every replica enforces the same counters.
 */
class TokenLimitsExactnessIT {
  static final int CONSUMERS = 8;
  static final long TPM = 2000;
  static final long QUOTA = 1000;
  static final int MAX_TOKENS = 100;
  /** The scripted backend reports 12 prompt + 5 completion tokens for every answer. */
  static final long USED = 17;
  static final String CHAT = "{\"model\":\"m\",\"max_tokens\":" + MAX_TOKENS
      + ",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

  static RedisServerProcess redis;
  static ScriptedUpstream upstream;
  static final List<Gateway> replicas = new ArrayList<>();

  @BeforeAll
  static void start() throws Exception {
    redis = new RedisServerProcess();
    upstream = new ScriptedUpstream("up");
    StringBuilder consumers = new StringBuilder();
    for (int i = 0; i < CONSUMERS; i++) {
      consumers.append("  - { name: c").append(i).append(", keys: [ \"").append(ApiKeys.hash("sk-c" + i))
          .append("\" ], models: [ \"*\" ], limits: [ tpm ] }\n");
    }
    String yaml = """
        backends: [ { name: local, provider: openai-compatible, url: UPSTREAM } ]
        pools: [ { name: p, members: [ { backend: local } ] } ]
        models: [ { name: m, pool: p } ]
        limits:
          - { name: tpm, tokensPerMinute: %d }
          - { name: monthly, quota: { tokens: %d, period: month } }
        consumers:
        %s  - { name: q, keys: [ "%s" ], models: [ "*" ], limits: [ monthly ] }
        redis: { uri: "%s", timeoutMillis: 500 }
        """.formatted(TPM, QUOTA, consumers, ApiKeys.hash("sk-q"), redis.uri());
    for (int i = 0; i < 3; i++) {
      replicas.add(new Gateway(yaml, upstream));
    }
  }

  @AfterAll
  static void stop() throws Exception {
    replicas.forEach(Gateway::close);
    upstream.close();
    redis.close();
  }

  /** Drives {@code threads} senders through random replicas until {@code done} says stop. */
  static void load(int threads, java.util.function.IntFunction<String> keyForThread,
      java.util.function.BiConsumer<String, ExchangeResponse> onAnswer, long maxMillis) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    long deadline = System.currentTimeMillis() + maxMillis;
    List<Future<?>> futures = new ArrayList<>();
    for (int t = 0; t < threads; t++) {
      String key = keyForThread.apply(t);
      futures.add(pool.submit(() -> {
        int refusedInARow = 0;
        while (System.currentTimeMillis() < deadline && refusedInARow < 5) {
          Gateway g = replicas.get(ThreadLocalRandom.current().nextInt(replicas.size()));
          ExchangeResponse r = g.chat(key, CHAT);
          onAnswer.accept(key, r);
          refusedInARow = r.status() == 200 ? 0 : refusedInARow + 1;
        }
        return null;
      }));
    }
    for (Future<?> f : futures) {
      f.get();
    }
    pool.shutdown();
  }

  @Test
  void noConsumerIsAdmittedMoreThanItsLimitPlusOneReservationAcrossReplicas() throws Exception {
    ConcurrentHashMap<String, AtomicLong> served = new ConcurrentHashMap<>();
    ConcurrentHashMap<String, AtomicLong> refused = new ConcurrentHashMap<>();
    long start = System.currentTimeMillis();
    load(16, t -> "sk-c" + (t % CONSUMERS), (key, r) -> {
      if (r.status() == 200) {
        served.computeIfAbsent(key, k -> new AtomicLong()).incrementAndGet();
      } else {
        assertEquals(429, r.status(), r.toString());
        refused.computeIfAbsent(key, k -> new AtomicLong()).incrementAndGet();
      }
    }, 40_000);
    long elapsed = System.currentTimeMillis() - start;
    assertTrue(elapsed < 55_000, "the whole run fits one 60-second window, took " + elapsed + " ms");
    long reservation = MAX_TOKENS + 20; // max_tokens + the prompt estimate (well under 20 for "hi")
    StringBuilder report = new StringBuilder();
    for (int i = 0; i < CONSUMERS; i++) {
      String key = "sk-c" + i;
      long tokens = served.getOrDefault(key, new AtomicLong()).get() * USED;
      report.append(String.format("c%d: %d requests, %d tokens admitted, %d refused%n", i,
          served.getOrDefault(key, new AtomicLong()).get(), tokens, refused.getOrDefault(key, new AtomicLong()).get()));
      assertTrue(tokens <= TPM + reservation, "c" + i + " got " + tokens + " tokens; limit " + TPM + "\n" + report);
      assertTrue(tokens >= TPM - reservation, "c" + i + " got only " + tokens + " tokens: too strict\n" + report);
      assertTrue(refused.getOrDefault(key, new AtomicLong()).get() > 0, "c" + i + " was never refused\n" + report);
      // Redis holds exactly what the backends reported, once the last reconciliations land.
      assertEquals(tokens, windowSum("weir:tpm|c" + i + "|tpm"), "counter of c" + i);
    }
    System.out.println("exactness over " + elapsed + " ms, 3 replicas, 16 senders:\n" + report);
  }

  @Test
  void quotaIsExactAcrossReplicas() throws Exception {
    AtomicLong served = new AtomicLong();
    load(12, t -> "sk-q", (key, r) -> {
      if (r.status() == 200) {
        served.incrementAndGet();
      } else {
        assertEquals(403, r.status(), r.toString());
      }
    }, 30_000);
    long tokens = served.get() * USED;
    long counter = Long.parseLong(bulk("GET " + quotaKey()));
    System.out.println("quota: " + served.get() + " requests, " + tokens + " tokens, counter " + counter);
    assertEquals(tokens, counter, "the quota counter is the sum of reported usage");
    assertTrue(tokens <= QUOTA, "never over the quota");
    assertTrue(tokens > QUOTA - (MAX_TOKENS + 20), "filled up to the last reservation that fits: " + tokens);
  }

  private static String quotaKey() {
    java.time.ZonedDateTime now = java.time.ZonedDateTime.now(java.time.ZoneOffset.UTC);
    return "weir:monthly|q|quota|" + now.getYear() + "-" + now.getMonthValue();
  }

  /** Sum of a window hash's buckets (HVALS over a raw socket: the test reads Redis itself). */
  private static long windowSum(String key) throws Exception {
    for (int i = 0; i < 50; i++) {
      long sum = hvalsSum(key);
      if (sum >= 0) {
        return sum;
      }
      Thread.sleep(20);
    }
    return -1;
  }

  private static long hvalsSum(String key) throws Exception {
    try (java.net.Socket s = new java.net.Socket("127.0.0.1", redis.port())) {
      s.getOutputStream().write(("HVALS " + key + "\r\n").getBytes());
      var in = new java.io.BufferedReader(new java.io.InputStreamReader(s.getInputStream()));
      String header = in.readLine(); // *N
      int n = Integer.parseInt(header.substring(1));
      long sum = 0;
      for (int i = 0; i < n; i++) {
        in.readLine(); // $len
        sum += Long.parseLong(in.readLine());
      }
      return sum;
    }
  }

  private static String bulk(String command) throws Exception {
    try (java.net.Socket s = new java.net.Socket("127.0.0.1", redis.port())) {
      s.getOutputStream().write((command + "\r\n").getBytes());
      var in = new java.io.BufferedReader(new java.io.InputStreamReader(s.getInputStream()));
      String header = in.readLine();
      return header.startsWith("$-1") ? "0" : in.readLine();
    }
  }
}
