package dev.weir.bench;

import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingRegistry;
import com.knuddels.jtokkit.api.EncodingType;
import dev.weir.config.ApiKeys;
import dev.weir.config.ConfigLoader;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.extproc.limits.LimitStore;
import dev.weir.extproc.limits.Limiter;
import dev.weir.extproc.limits.LocalLimitStore;
import dev.weir.extproc.limits.RedisLimitStore;
import dev.weir.testkit.ExchangeRequest;
import dev.weir.testkit.RedisServerProcess;
import dev.weir.testkit.ScriptedUpstream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Token governance costs: jtokkit counting throughput per encoding on realistic prompts; limiter
 * decision latency (admit + reconcile) on the local store and on a real redis-server; and
 * requests per second through the gateway (test-kit + ext-proc-server) with limits off, on with
 * local counters, and on with Redis. Usage: {@code java -cp benchmarks.jar dev.weir.bench.TokenBenchmark [repo root]}.
 */
public final class TokenBenchmark {
  public static void main(String[] args) throws Exception {
    Path root = Path.of(args.length > 0 ? args[0] : ".");
    System.out.printf("JVM %s, %d cores%n%n", Runtime.version(), Runtime.getRuntime().availableProcessors());
    counting(root);
    try (RedisServerProcess redis = new RedisServerProcess()) {
      decisions(redis);
      throughput(root, redis);
    }
  }

  /** Prompts: questions from the shared QQP sample if present, and paragraphs of the README and docs. */
  static List<String> prompts(Path root) throws Exception {
    List<String> out = new ArrayList<>();
    Path qqp = root.resolve("../shared/data/qqp-dev.jsonl");
    if (Files.exists(qqp)) {
      for (String line : Files.readAllLines(qqp)) {
        int a = line.indexOf("\"a\": \"");
        if (a >= 0) {
          out.add(line.substring(a + 6, line.indexOf('"', a + 6)));
        }
      }
    }
    // The manual moved from the README into docs/; reading both keeps the corpus the same text.
    List<Path> pages = new ArrayList<>(List.of(root.resolve("README.md")));
    try (var docs = Files.list(root.resolve("docs"))) {
      docs.filter(p -> p.toString().endsWith(".md") && !p.endsWith("benchmarks.md")).sorted().forEach(pages::add);
    }
    for (Path page : pages) {
      for (String para : Files.readString(page).split("\n\n")) {
        out.add(para);
      }
    }
    return out;
  }

  static void counting(Path root) throws Exception {
    List<String> prompts = prompts(root);
    long chars = prompts.stream().mapToLong(String::length).sum();
    EncodingRegistry registry = Encodings.newLazyEncodingRegistry();
    System.out.printf("Counting %,d prompts (%,d characters: QQP questions and README/docs paragraphs)%n", prompts.size(), chars);
    System.out.println("| encoding | tokens in corpus | tokens/s (median of 5 passes) | prompts/s |");
    System.out.println("|---|---:|---:|---:|");
    for (EncodingType type : List.of(EncodingType.O200K_BASE, EncodingType.CL100K_BASE, EncodingType.P50K_BASE,
        EncodingType.R50K_BASE)) {
      Encoding enc = registry.getEncoding(type);
      long tokens = 0;
      for (int warm = 0; warm < 3; warm++) {
        tokens = 0;
        for (String p : prompts) {
          tokens += enc.countTokensOrdinary(p);
        }
      }
      double[] rates = new double[5];
      for (int pass = 0; pass < 5; pass++) {
        long t0 = System.nanoTime();
        long n = 0;
        for (String p : prompts) {
          n += enc.countTokensOrdinary(p);
        }
        rates[pass] = n / ((System.nanoTime() - t0) / 1e9);
      }
      Arrays.sort(rates);
      System.out.printf("| %s | %,d | %,.0f | %,.0f |%n", type.getName(), tokens, rates[2],
          rates[2] * prompts.size() / tokens);
    }
    System.out.println();
  }

  static GatewayConfig limitsConfig(String upstream, String redisUri) throws Exception {
    return new ConfigLoader(Map.<String, String>of()::get, true).parse("""
        backends: [ { name: local, provider: openai-compatible, url: "%s" } ]
        pools: [ { name: p, members: [ { backend: local } ] } ]
        models: [ { name: m, pool: p, price: { inputPerMillion: 2.5, outputPerMillion: 10 } } ]
        limits:
          - { name: tpm, tokensPerMinute: 1000000000 }
          - { name: quota, quota: { tokens: 100000000000, period: month } }
        consumers:
          - { name: c, keys: [ "%s" ], models: [ "*" ], limits: [ tpm, quota ] }
          - { name: free, keys: [ "%s" ], models: [ "*" ] }
        %s
        """.formatted(upstream, ApiKeys.hash("sk-limited"), ApiKeys.hash("sk-free"),
        redisUri == null ? "" : "redis: { uri: \"" + redisUri + "\", timeoutMillis: 500 }"), "bench", null);
  }

  static void decisions(RedisServerProcess redis) throws Exception {
    GatewayConfig config = limitsConfig("http://127.0.0.1:1", redis.uri());
    System.out.println("Limiter decision: admit (a 60 s window + a monthly quota) then reconcile, one thread");
    System.out.println("| store | decisions | median µs | p90 µs | p99 µs |");
    System.out.println("|---|---:|---:|---:|---:|");
    try (RedisLimitStore redisStore = new RedisLimitStore(config.getRedis(), "bench:")) {
      for (var entry : List.<Map.Entry<String, LimitStore>>of(Map.entry("in-process (Caffeine)", new LocalLimitStore()),
          Map.entry("Redis 7 on loopback (Lettuce, Lua)", redisStore))) {
        Limiter limiter = new Limiter(config, entry.getValue(), new LocalLimitStore(), Limiter.Observer.NONE);
        Limiter.Facts facts = new Limiter.Facts("c", "10.0.0.1", Map.of(), Map.of(), "m", 500, 500);
        int n = 20_000;
        for (int i = 0; i < 5_000; i++) {
          ((Limiter.Admitted) limiter.admit(facts)).reservation().reconcile(500, 0, 100);
        }
        long[] nanos = new long[n];
        for (int i = 0; i < n; i++) {
          long t0 = System.nanoTime();
          ((Limiter.Admitted) limiter.admit(facts)).reservation().reconcile(500, 0, 100);
          nanos[i] = System.nanoTime() - t0;
        }
        Arrays.sort(nanos);
        System.out.printf("| %s | %,d | %.1f | %.1f | %.1f |%n", entry.getKey(), n, nanos[n / 2] / 1e3,
            nanos[(int) (n * 0.9)] / 1e3, nanos[(int) (n * 0.99)] / 1e3);
      }
    }
    System.out.println();
  }

  static void throughput(Path root, RedisServerProcess redis) throws Exception {
    System.out.println("Requests/s through the gateway: test-kit (Envoy) + ext-proc-server + scripted upstream,"
        + " 4 client threads; every mode warmed up, then measured in 3 interleaved rounds of 4 s");
    System.out.println("| token limits | requests/s | median ms | p99 ms |");
    System.out.println("|---|---:|---:|---:|");
    List<String> modes = List.of("off", "on, in-process counters", "on, Redis counters");
    try (ScriptedUpstream upstream = new ScriptedUpstream("bench")) {
      var router = ExchangeLatencyBenchmark.routerFilter(root.resolve("envoy/envoy.yaml"));
      List<AutoCloseable> open = new ArrayList<>();
      List<dev.weir.testkit.TestEnvoy> envoys = new ArrayList<>();
      List<ExchangeRequest> requests = new ArrayList<>();
      for (String mode : modes) {
        GatewayConfig config = limitsConfig(upstream.url(), mode.contains("Redis") ? redis.uri() : null);
        var server = new dev.weir.extproc.ExtProcServer(config, Map.<String, String>of()::get, "127.0.0.1", 0, 0);
        var resources = dev.weir.xds.EnvoyResources.build(config);
        var envoy = ExchangeLatencyBenchmark.envoy(server.grpcPort(), router, resources, resources.routes().get(0));
        open.add(envoy);
        open.add(server);
        envoys.add(envoy);
        requests.add(ExchangeRequest.post("/v1/chat/completions",
            "{\"model\":\"m\",\"max_tokens\":200,\"messages\":[{\"role\":\"user\",\"content\":\"Summarise the report.\"}]}",
            "authorization", "Bearer " + (mode.equals("off") ? "sk-free" : "sk-limited")));
      }
      for (int i = 0; i < modes.size(); i++) {
        run(envoys.get(i), requests.get(i), 4_000, null);
      }
      long[] counts = new long[modes.size()];
      List<List<Long>> latencies = new ArrayList<>();
      for (int i = 0; i < modes.size(); i++) {
        latencies.add(java.util.Collections.synchronizedList(new ArrayList<>()));
      }
      for (int round = 0; round < 3; round++) {
        for (int i = 0; i < modes.size(); i++) {
          counts[i] += run(envoys.get(i), requests.get(i), 4_000, latencies.get(i));
        }
      }
      for (int i = 0; i < modes.size(); i++) {
        long[] sorted = latencies.get(i).stream().mapToLong(Long::longValue).sorted().toArray();
        System.out.printf("| %s | %,.0f | %.2f | %.2f |%n", modes.get(i), counts[i] / 12.0,
            sorted[sorted.length / 2] / 1e6, sorted[(int) (sorted.length * 0.99)] / 1e6);
      }
      for (AutoCloseable c : open) {
        c.close();
      }
    }
  }

  static long run(dev.weir.testkit.TestEnvoy envoy, ExchangeRequest req, long millis, List<Long> latencies)
      throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(4);
    AtomicLong done = new AtomicLong();
    long deadline = System.currentTimeMillis() + millis;
    List<Future<?>> fs = new ArrayList<>();
    for (int t = 0; t < 4; t++) {
      fs.add(pool.submit(() -> {
        while (System.currentTimeMillis() < deadline) {
          long t0 = System.nanoTime();
          var r = envoy.send(req);
          if (r.status() != 200) {
            throw new IllegalStateException("benchmark exchange failed: " + r);
          }
          if (latencies != null) {
            latencies.add(System.nanoTime() - t0);
          }
          done.incrementAndGet();
        }
        return null;
      }));
    }
    for (Future<?> f : fs) {
      f.get();
    }
    pool.shutdown();
    return done.get();
  }
}
