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
 * One ext-proc-server with its own TestEnvoy, from a YAML config whose backend URLs may name
 * {@code UPSTREAM} (replaced by a scripted upstream's URL). Several can share one Redis.
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
    config = new ConfigLoader(env::get, true).parse(yaml.replace("UPSTREAM", upstream.url()), "test", null);
    server = new ExtProcServer(config, env::get, "127.0.0.1", 0, 0);
    EnvoyResources.Resources r = EnvoyResources.build(config);
    envoy = TestEnvoy.builder().extProc("127.0.0.1", server.grpcPort())
        .routerFilter(GatewayFixture.routerFilterFromBootstrap()).routes(r.routes().get(0))
        .resources(r.clusters(), r.endpoints()).build();
  }

  private int port;

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
    return java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(
        java.net.URI.create("http://127.0.0.1:" + server.adminPort() + "/metrics")).build(),
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
