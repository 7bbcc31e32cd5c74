package dev.weir.bench;

import com.sun.net.httpserver.HttpServer;
import dev.weir.config.ApiKeys;
import dev.weir.config.ConfigLoader;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.extproc.ExtProcServer;
import dev.weir.testkit.ExchangeRequest;
import dev.weir.testkit.ScriptedUpstream;
import dev.weir.testkit.TestEnvoy;
import dev.weir.xds.EnvoyResources;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * The added-latency benchmark's exchange, with and without usage events and tracing: three
 * ext-proc-servers of one config except the observability block (none; events to a JSON-lines file
 * and OTLP logs plus traces sampled at 100 %; the same at 1 %), each behind its own test-kit Envoy,
 * interleaved in rounds. A local HTTP server plays the OTLP receiver (answers 200, keeps nothing).
 * Usage: {@code java -cp benchmarks/target/benchmarks.jar dev.weir.bench.ObservabilityOverheadBenchmark [exchanges]}.
 */
public final class ObservabilityOverheadBenchmark {
  public static void main(String[] args) throws Exception {
    int exchanges = args.length > 0 ? Integer.parseInt(args[0]) : 10_000;
    int warmup = Math.max(2_000, exchanges / 5);
    Path root = Path.of(args.length > 1 ? args[1] : ".");
    HttpServer receiver = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
    receiver.createContext("/", ex -> {
      try (InputStream in = ex.getRequestBody()) {
        in.readAllBytes();
      }
      ex.sendResponseHeaders(200, -1);
      ex.close();
    });
    receiver.start();
    Path events = Files.createTempDirectory("weir-bench-events");
    String otlp = "http://127.0.0.1:" + receiver.getAddress().getPort();
    try (ScriptedUpstream upstream = new ScriptedUpstream("bench")) {
      String base = """
          backends:
            - { name: local, provider: openai-compatible, url: %s }
          pools:
            - name: small
              members: [ { backend: local } ]
          models:
            - { name: llama, pool: small, price: { inputPerMillion: 0.2, outputPerMillion: 0.6 } }
          consumers:
            - { name: bench, keys: [ "%s" ], models: [ "*" ] }
          """.formatted(upstream.url(), ApiKeys.hash(ExchangeLatencyBenchmark.KEY));
      String observed = """
          observability:
            events: { file: { path: "%s" }, otlp: { endpoint: "%s" } }
            traces: { otlp: { endpoint: "%s" }, sampleRatio: %s }
          """;
      List<String> names = List.of("no sinks, no traces (recent events and usage totals only)", "events (file + OTLP logs), traces sampled 100 %",
          "events (file + OTLP logs), traces sampled 1 %");
      List<String> yamls = List.of(base,
          base + observed.formatted(events.resolve("a.jsonl"), otlp, otlp, "1"),
          base + observed.formatted(events.resolve("b.jsonl"), otlp, otlp, "0.01"));
      ExternalProcessor routerFilter = ExchangeLatencyBenchmark.routerFilter(root.resolve("envoy/envoy.yaml"));
      ExtProcServer[] servers = new ExtProcServer[3];
      TestEnvoy[] envoys = new TestEnvoy[3];
      try {
        for (int s = 0; s < 3; s++) {
          GatewayConfig config = new ConfigLoader(Map.<String, String>of()::get, true).parse(yamls.get(s), "bench", null);
          EnvoyResources.Resources resources = EnvoyResources.build(config);
          servers[s] = new ExtProcServer(config, Map.<String, String>of()::get, "127.0.0.1", 0, 0);
          envoys[s] = ExchangeLatencyBenchmark.envoy(servers[s].grpcPort(), routerFilter, resources,
              resources.routes().get(0));
        }
        ExchangeRequest request = ExchangeRequest.post("/v1/chat/completions", ExchangeLatencyBenchmark.BODY,
            "authorization", "Bearer " + ExchangeLatencyBenchmark.KEY);
        for (int i = 0; i < warmup; i++) {
          for (TestEnvoy e : envoys) {
            e.send(request);
          }
        }
        long[][] nanos = new long[3][exchanges];
        int round = 500;
        for (int start = 0; start < exchanges; start += round) {
          int end = Math.min(exchanges, start + round);
          for (int s = 0; s < 3; s++) {
            for (int i = start; i < end; i++) {
              long t0 = System.nanoTime();
              var r = envoys[s].send(request);
              nanos[s][i] = System.nanoTime() - t0;
              if (r.status() != 200) {
                throw new IllegalStateException("benchmark exchange failed: " + r);
              }
            }
          }
        }
        System.out.printf("exchanges per side: %d (after %d warm-up each), JVM %s, %d cores%n", exchanges, warmup,
            Runtime.version(), Runtime.getRuntime().availableProcessors());
        System.out.println("| ext-proc-server | median µs | p90 µs | p99 µs | p99.9 µs |");
        System.out.println("|---|---:|---:|---:|---:|");
        for (int s = 0; s < 3; s++) {
          Arrays.sort(nanos[s]);
          System.out.printf("| %s | %d | %d | %d | %d |%n", names.get(s), pct(nanos[s], 50), pct(nanos[s], 90),
              pct(nanos[s], 99), pct(nanos[s], 99.9));
        }
        for (int s = 1; s < 3; s++) {
          System.out.printf("| **added by %s** | **%d** | **%d** | **%d** | **%d** |%n", names.get(s).replace("events (file + OTLP logs), ", ""),
              pct(nanos[s], 50) - pct(nanos[0], 50), pct(nanos[s], 90) - pct(nanos[0], 90),
              pct(nanos[s], 99) - pct(nanos[0], 99), pct(nanos[s], 99.9) - pct(nanos[0], 99.9));
        }
      } finally {
        for (int s = 0; s < 3; s++) {
          if (envoys[s] != null) {
            envoys[s].close();
          }
          if (servers[s] != null) {
            servers[s].close();
          }
        }
      }
    } finally {
      receiver.stop(0);
      try (var files = Files.list(events)) {
        for (Path p : files.toList()) {
          Files.deleteIfExists(p);
        }
      }
      Files.deleteIfExists(events);
    }
  }

  /** Percentile in microseconds. */
  private static long pct(long[] sorted, double p) {
    return ExchangeLatencyBenchmark.pct(sorted, p) / 1000;
  }
}
