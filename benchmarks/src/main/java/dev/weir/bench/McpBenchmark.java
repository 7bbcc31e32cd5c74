package dev.weir.bench;

import dev.weir.config.ApiKeys;
import dev.weir.config.ConfigLoader;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.extproc.ExtProcServer;
import dev.weir.testkit.ScriptedUpstream;
import dev.weir.testkit.TestEnvoy;
import dev.weir.xds.EnvoyResources;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

/**
 * Added latency of a governed MCP {@code tools/call}: the same call sent by a JDK HTTP client
 * straight to the MCP server, through the test-kit (playing Envoy) with a no-op ext_proc server,
 * and through the test-kit with Weir (authentication, header/body check, tool policy, a
 * calls-per-minute limit, credential injection, answer inspection, metrics and audit).
 * Interleaved in rounds so drift in machine load hits all three alike. The server is a stateless
 * MCP server's JSON answer from the scripted upstream. Usage:
 * {@code java -cp benchmarks/target/benchmarks.jar dev.weir.bench.McpBenchmark [calls]}.
 */
public final class McpBenchmark {
  static final String KEY = "sk-weir-mcp-bench";
  static final String CALL = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
      + "\"params\":{\"name\":\"get_issue\",\"arguments\":{\"id\":\"WEIR-14\"}}}";
  static final String RESULT = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[{\"type\":\"text\","
      + "\"text\":\"WEIR-14: MCP gateway, open\"}],\"isError\":false}}";

  public static void main(String[] args) throws Exception {
    int calls = args.length > 0 ? Integer.parseInt(args[0]) : 5_000;
    int warmup = Math.max(2_000, calls / 5);
    Path root = Path.of(args.length > 1 ? args[1] : ".");
    try (ScriptedUpstream mcp = new ScriptedUpstream("mcp")) {
      mcp.fallback(new ScriptedUpstream.Json(200, RESULT));
      String yaml = """
          mcpServers:
            - name: tracker
              url: %s/mcp
              credential: { key: { env: TRACKER_KEY } }
          consumers:
            - name: agent
              keys: [ "%s" ]
              mcp:
                - server: tracker
                  allow: [ "get_*", "search_*" ]
                  deny: [ "delete_*" ]
                  callsPerMinute: 100000000
          """.formatted(mcp.url(), ApiKeys.hash(KEY));
      Map<String, String> env = Map.of("TRACKER_KEY", "upstream-secret");
      GatewayConfig config = new ConfigLoader(env::get, true).parse(yaml, "bench", null);
      EnvoyResources.Resources resources = EnvoyResources.build(config);
      ExternalProcessor routerFilter = ExchangeLatencyBenchmark.routerFilter(root.resolve("envoy/envoy.yaml"));
      Server noop = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
          .addService(new ExchangeLatencyBenchmark.NoOpProcessor()).build().start();
      try (ExtProcServer weir = new ExtProcServer(config, env::get, "127.0.0.1", 0, 0);
          TestEnvoy viaWeir = ExchangeLatencyBenchmark.envoy(weir.grpcPort(), routerFilter, resources,
              resources.routes().get(0));
          TestEnvoy viaNoop = ExchangeLatencyBenchmark.envoy(noop.getPort(), routerFilter, resources,
              routeEverythingToTheServer(resources))) {
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        HttpRequest direct = request(mcp.url() + "/mcp");
        HttpRequest noopCall = request("http://127.0.0.1:" + viaNoop.listen() + "/mcp/tracker");
        HttpRequest weirCall = request("http://127.0.0.1:" + viaWeir.listen() + "/mcp/tracker");
        for (HttpRequest r : new HttpRequest[] {direct, noopCall, weirCall}) {
          check(http.send(r, HttpResponse.BodyHandlers.ofString()));
        }
        for (int i = 0; i < warmup; i++) {
          http.send(direct, HttpResponse.BodyHandlers.discarding());
          http.send(noopCall, HttpResponse.BodyHandlers.discarding());
          http.send(weirCall, HttpResponse.BodyHandlers.discarding());
        }
        long[] directNanos = new long[calls];
        long[] noopNanos = new long[calls];
        long[] weirNanos = new long[calls];
        int round = 500;
        for (int start = 0; start < calls; start += round) {
          int end = Math.min(calls, start + round);
          time(http, direct, directNanos, start, end);
          time(http, noopCall, noopNanos, start, end);
          time(http, weirCall, weirNanos, start, end);
        }
        Arrays.sort(directNanos);
        Arrays.sort(noopNanos);
        Arrays.sort(weirNanos);
        System.out.printf("tools/call per path: %d (after %d warm-up each), JVM %s, %d cores%n", calls, warmup,
            Runtime.version(), Runtime.getRuntime().availableProcessors());
        System.out.println("| path | median µs | p90 µs | p99 µs | p99.9 µs |");
        System.out.println("|---|---:|---:|---:|---:|");
        row("direct to the MCP server", directNanos);
        row("test-kit Envoy, no-op ext_proc", noopNanos);
        row("test-kit Envoy, weir (governed)", weirNanos);
        added("**governed vs direct**", weirNanos, directNanos);
        added("**weir vs no-op ext_proc**", weirNanos, noopNanos);
      } finally {
        noop.shutdownNow();
      }
    }
  }

  private static HttpRequest request(String url) {
    return HttpRequest.newBuilder(URI.create(url)).header("authorization", "Bearer " + KEY)
        .header("content-type", "application/json").header("accept", "application/json, text/event-stream")
        .POST(HttpRequest.BodyPublishers.ofString(CALL)).build();
  }

  private static void time(HttpClient http, HttpRequest request, long[] out, int start, int end) throws Exception {
    for (int i = start; i < end; i++) {
      long t0 = System.nanoTime();
      check(http.send(request, HttpResponse.BodyHandlers.ofString()));
      out[i] = System.nanoTime() - t0;
    }
  }

  private static void check(HttpResponse<String> r) {
    if (r.statusCode() != 200 || !r.body().contains("WEIR-14: MCP gateway")) {
      throw new IllegalStateException("benchmark call failed: " + r.statusCode() + " " + r.body());
    }
  }

  private static void row(String name, long[] sorted) {
    System.out.printf("| %s | %d | %d | %d | %d |%n", name, ExchangeLatencyBenchmark.pct(sorted, 50) / 1000,
        ExchangeLatencyBenchmark.pct(sorted, 90) / 1000, ExchangeLatencyBenchmark.pct(sorted, 99) / 1000,
        ExchangeLatencyBenchmark.pct(sorted, 99.9) / 1000);
  }

  private static void added(String name, long[] a, long[] b) {
    System.out.printf("| %s | %d | %d | %d | %d |%n", name,
        (ExchangeLatencyBenchmark.pct(a, 50) - ExchangeLatencyBenchmark.pct(b, 50)) / 1000,
        (ExchangeLatencyBenchmark.pct(a, 90) - ExchangeLatencyBenchmark.pct(b, 90)) / 1000,
        (ExchangeLatencyBenchmark.pct(a, 99) - ExchangeLatencyBenchmark.pct(b, 99)) / 1000,
        (ExchangeLatencyBenchmark.pct(a, 99.9) - ExchangeLatencyBenchmark.pct(b, 99.9)) / 1000);
  }

  /** The no-op server sets no server header, so its route sends everything to the MCP cluster. */
  private static RouteConfiguration routeEverythingToTheServer(EnvoyResources.Resources resources) {
    RouteConfiguration.Builder rc = resources.routes().get(0).toBuilder();
    var vh = rc.getVirtualHostsBuilder(0);
    var route = vh.getRoutesList().stream().filter(r -> r.getName().equals("mcp-tracker")).findFirst().orElseThrow()
        .toBuilder();
    route.getMatchBuilder().clearHeaders();
    // The no-op pass leaves the path /mcp/tracker; the scripted server answers any path alike.
    vh.clearRoutes().addRoutes(route);
    return rc.build();
  }
}
