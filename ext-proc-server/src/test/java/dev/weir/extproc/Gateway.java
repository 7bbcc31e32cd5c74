package dev.weir.extproc;

import dev.weir.config.ConfigLoader;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.testkit.ExchangeRequest;
import dev.weir.testkit.ExchangeResponse;
import dev.weir.testkit.ScriptedUpstream;
import dev.weir.testkit.TestEnvoy;
import dev.weir.xds.EnvoyResources;
import java.util.Map;

/**
 * The end-to-end test harness: one ext-proc-server with its own test-kit Envoy, from a YAML config
 * whose backend URLs may name {@code UPSTREAM} (replaced by a scripted upstream's URL), or from a
 * loaded config. Several can share one Redis. (It lives with ext-proc-server's tests, not in the
 * test-kit, because the test-kit cannot depend on the server it tests.)
 */
final class Gateway implements AutoCloseable {
  final GatewayConfig config;
  final ExtProcServer server;
  final TestEnvoy envoy;

  Gateway(String yaml, ScriptedUpstream upstream) throws Exception {
    this(yaml, upstream, Map.of());
  }

  /** With {@code env} as the environment credentials are read from. */
  Gateway(String yaml, ScriptedUpstream upstream, Map<String, String> env) throws Exception {
    this(new ConfigLoader(env::get, true).parse(yaml.replace("UPSTREAM", upstream.url()), "test", null), env);
  }

  /** A loaded config, served by a new ext-proc-server and a test-kit Envoy. */
  Gateway(GatewayConfig config, Map<String, String> env) throws Exception {
    this.config = config;
    server = new ExtProcServer(config, env::get, "127.0.0.1", 0, 0);
    envoy = envoy(config, server.grpcPort());
  }

  private int port;

  /**
   * The test-kit's Envoy for {@code config}: the router filter exactly as the shipped bootstrap
   * configures it, and the routes, clusters and endpoints xds-control-plane builds, sending
   * ext_proc to {@code extProcPort}. The one place tests wire Envoy to an ext-proc-server.
   */
  static TestEnvoy envoy(GatewayConfig config, int extProcPort) throws Exception {
    EnvoyResources.Resources r = EnvoyResources.build(config);
    return TestEnvoy.builder().extProc("127.0.0.1", extProcPort)
        .routerFilter(GatewayFixture.routerFilterFromBootstrap()).routes(r.routes().get(0))
        .resources(r.clusters(), r.endpoints()).build();
  }

  /** The base URL an OpenAI SDK uses (opens the test-kit's listener on first use). */
  synchronized String baseUrl() throws java.io.IOException {
    if (port == 0) {
      port = envoy.listen();
    }
    return "http://127.0.0.1:" + port + "/v1";
  }

  ExchangeResponse chat(String key, String body) {
    return envoy.send(ExchangeRequest.post("/v1/chat/completions", body, "authorization", "Bearer " + key));
  }

  String metrics() throws Exception {
    return metricsOf(server.adminPort());
  }

  /** The Prometheus scrape of the ext-proc-server whose admin port this is. */
  static String metricsOf(int adminPort) throws Exception {
    return java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(
        java.net.URI.create("http://127.0.0.1:" + adminPort + "/metrics")).build(),
        java.net.http.HttpResponse.BodyHandlers.ofString()).body();
  }

  /**
   * The scrape once it contains {@code expected}: an exchange is recorded when its ext_proc stream
   * ends, a moment after the client has its answer.
   */
  String metricsContaining(String expected) throws Exception {
    String m = metrics();
    for (int i = 0; i < 100 && !m.contains(expected); i++) {
      Thread.sleep(20);
      m = metrics();
    }
    return m;
  }

  @Override
  public void close() {
    envoy.close();
    server.close();
  }
}
