package dev.weir.bench;

import dev.weir.config.ApiKeys;
import dev.weir.config.ConfigLoader;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.extproc.ExtProcServer;
import dev.weir.testkit.EnvoyYaml;
import dev.weir.testkit.ExchangeRequest;
import dev.weir.testkit.ExchangeResponse;
import dev.weir.testkit.ScriptedUpstream;
import dev.weir.testkit.TestEnvoy;
import dev.weir.xds.EnvoyResources;
import io.envoyproxy.envoy.config.bootstrap.v3.Bootstrap;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.service.ext_proc.v3.ExternalProcessorGrpc;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

/**
 * Added latency per exchange: the same exchanges through the test-kit (playing Envoy) against the
 * real ext-proc-server, and against a no-op ext_proc server that answers every message "continue"
 * with the same filter configuration. Both run in one process, interleaved in rounds so drift in
 * machine load hits both alike. Usage: {@code java -jar benchmarks/target/benchmarks.jar [exchanges]}.
 */
public final class ExchangeLatencyBenchmark {
  static final String KEY = "sk-weir-bench";
  static final String BODY = "{\"model\":\"llama\",\"messages\":[{\"role\":\"system\",\"content\":\"You are terse.\"},"
      + "{\"role\":\"user\",\"content\":\"Summarise the quarterly report in three bullet points.\"}],"
      + "\"max_tokens\":128,\"temperature\":0.2}";

  public static void main(String[] args) throws Exception {
    int exchanges = args.length > 0 ? Integer.parseInt(args[0]) : 10_000;
    int warmup = Math.max(2_000, exchanges / 5);
    Path root = Path.of(args.length > 1 ? args[1] : ".");
    try (ScriptedUpstream upstream = new ScriptedUpstream("bench")) {
      String yaml = """
          backends:
            - { name: local, provider: openai-compatible, url: %s }
          pools:
            - name: small
              members: [ { backend: local } ]
          models:
            - { name: llama, pool: small }
          consumers:
            - { name: bench, keys: [ "%s" ], models: [ "*" ] }
          """.formatted(upstream.url(), ApiKeys.hash(KEY));
      GatewayConfig config = new ConfigLoader(Map.<String, String>of()::get, true).parse(yaml, "bench", null);
      EnvoyResources.Resources resources = EnvoyResources.build(config);
      ExternalProcessor routerFilter = routerFilter(root.resolve("envoy/envoy.yaml"));
      Server noop = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
          .addService(new NoOpProcessor()).build().start();
      try (ExtProcServer weir = new ExtProcServer(config, Map.<String, String>of()::get, "127.0.0.1", 0, 0);
          TestEnvoy viaWeir = envoy(weir.grpcPort(), routerFilter, resources, resources.routes().get(0));
          TestEnvoy viaNoop = envoy(noop.getPort(), routerFilter, resources, routeEverythingTo(resources))) {
        ExchangeRequest request = ExchangeRequest.post("/v1/chat/completions", BODY, "authorization", "Bearer " + KEY);
        check(viaWeir.send(request));
        check(viaNoop.send(request));
        for (int i = 0; i < warmup; i++) {
          viaWeir.send(request);
          viaNoop.send(request);
        }
        long[] weirNanos = new long[exchanges];
        long[] noopNanos = new long[exchanges];
        int round = 500;
        for (int start = 0; start < exchanges; start += round) {
          int end = Math.min(exchanges, start + round);
          for (int i = start; i < end; i++) {
            long t0 = System.nanoTime();
            check(viaWeir.send(request));
            weirNanos[i] = System.nanoTime() - t0;
          }
          for (int i = start; i < end; i++) {
            long t0 = System.nanoTime();
            check(viaNoop.send(request));
            noopNanos[i] = System.nanoTime() - t0;
          }
        }
        Arrays.sort(weirNanos);
        Arrays.sort(noopNanos);
        System.out.printf("exchanges per side: %d (after %d warm-up each), JVM %s, %d cores%n", exchanges, warmup,
            Runtime.version(), Runtime.getRuntime().availableProcessors());
        System.out.println("| ext_proc server | median µs | p90 µs | p99 µs | p99.9 µs |");
        System.out.println("|---|---:|---:|---:|---:|");
        row("no-op (continue everything)", noopNanos);
        row("weir (auth, validate, route, translate)", weirNanos);
        System.out.printf("| **added by weir** | **%d** | **%d** | **%d** | **%d** |%n",
            (pct(weirNanos, 50) - pct(noopNanos, 50)) / 1000, (pct(weirNanos, 90) - pct(noopNanos, 90)) / 1000,
            (pct(weirNanos, 99) - pct(noopNanos, 99)) / 1000, (pct(weirNanos, 99.9) - pct(noopNanos, 99.9)) / 1000);
      } finally {
        noop.shutdownNow();
      }
    }
  }

  private static void row(String name, long[] sorted) {
    System.out.printf("| %s | %d | %d | %d | %d |%n", name, pct(sorted, 50) / 1000, pct(sorted, 90) / 1000,
        pct(sorted, 99) / 1000, pct(sorted, 99.9) / 1000);
  }

  static long pct(long[] sorted, double p) {
    int i = (int) Math.ceil(p / 100.0 * sorted.length) - 1;
    return sorted[Math.max(0, Math.min(sorted.length - 1, i))];
  }

  private static void check(ExchangeResponse r) {
    if (r.status() != 200) {
      throw new IllegalStateException("benchmark exchange failed: " + r + " " + r.trace());
    }
  }

  static TestEnvoy envoy(int port, ExternalProcessor routerFilter, EnvoyResources.Resources resources,
      RouteConfiguration routes) {
    TestEnvoy.Builder b = TestEnvoy.builder().extProc("127.0.0.1", port).routerFilter(routerFilter).routes(routes);
    b.resources(resources.clusters(), resources.endpoints());
    return b.build();
  }

  /** The no-op server sets no pool header, so its routes send everything to the one pool. */
  private static RouteConfiguration routeEverythingTo(EnvoyResources.Resources resources) {
    RouteConfiguration.Builder rc = resources.routes().get(0).toBuilder();
    var vh = rc.getVirtualHostsBuilder(0);
    var route = vh.getRoutes(0).toBuilder();
    route.getMatchBuilder().clearHeaders();
    vh.clearRoutes().addRoutes(route);
    return rc.build();
  }

  static ExternalProcessor routerFilter(Path bootstrap) throws Exception {
    Bootstrap b = EnvoyYaml.bootstrap(bootstrap);
    return b.getStaticResources().getListeners(0).getFilterChains(0).getFilters(0).getTypedConfig()
        .unpack(HttpConnectionManager.class).getHttpFilters(0).getTypedConfig().unpack(ExternalProcessor.class);
  }

  /** Answers every ext_proc message with "continue unchanged". */
  static final class NoOpProcessor extends ExternalProcessorGrpc.ExternalProcessorImplBase {
    @Override
    public StreamObserver<ProcessingRequest> process(StreamObserver<ProcessingResponse> out) {
      return new StreamObserver<>() {
        @Override
        public void onNext(ProcessingRequest r) {
          out.onNext(dev.weir.extproc.session.Messages.continueUnchanged(r));
        }

        @Override
        public void onError(Throwable t) {}

        @Override
        public void onCompleted() {
          out.onCompleted();
        }
      };
    }
  }
}
