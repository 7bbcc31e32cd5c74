package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.ApiKeys;
import dev.weir.config.ConfigLoader;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.testkit.ExchangeRequest;
import dev.weir.testkit.ExchangeResponse;
import dev.weir.testkit.ScriptedUpstream;
import dev.weir.testkit.TestCertificates;
import dev.weir.testkit.TestEnvoy;
import dev.weir.xds.EnvoyResources;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.TlsChannelCredentials;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The ext_proc port with mTLS, end to end through the test-kit's Envoy with real certificates:
 * only a client certificate from the configured CA with an allowed SAN gets a stream, so no one
 * else can ask the upstream pass for a backend's key.
 */
class ExtProcMutualTlsTest {
  static final String KEY = "sk-team";
  static final String BACKEND_SECRET = "backend-secret-never-leaves";
  static final String CHAT = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

  @TempDir Path dir;
  TestCertificates ca;
  ScriptedUpstream upstream;
  GatewayConfig config;
  ExtProcServer server;

  @BeforeEach
  void start() throws Exception {
    ca = TestCertificates.authority(dir, "weir");
    TestCertificates.Issued serverCert = ca.issue("ext-proc", "dns:localhost", "ip:127.0.0.1");
    upstream = new ScriptedUpstream("up");
    config = new ConfigLoader(Map.of("UP_KEY", BACKEND_SECRET)::get, true).parse("""
        backends: [ { name: openai, provider: openai, url: "%s", credential: { env: UP_KEY } } ]
        pools: [ { name: p, members: [ { backend: openai } ] } ]
        models: [ { name: gpt-4o, pool: p } ]
        consumers: [ { name: team, keys: [ "%s" ], models: [ "*" ] } ]
        security:
          extProcTls:
            certFile: %s
            keyFile: %s
            clientCaFile: %s
            allowedClientSans: [ "spiffe://weir/envoy" ]
        """.formatted(upstream.url(), ApiKeys.hash(KEY), serverCert.cert(), serverCert.key(), ca.caFile()),
        "test", dir);
    server = new ExtProcServer(config, Map.of("UP_KEY", BACKEND_SECRET)::get, "127.0.0.1", 0, 0);
  }

  @AfterEach
  void stop() {
    server.close();
    upstream.close();
  }

  private ManagedChannel tlsChannel(TestCertificates.Issued client) throws IOException {
    var credentials = TlsChannelCredentials.newBuilder()
        .keyManager(client.cert().toFile(), client.key().toFile())
        .trustManager(ca.caFile().toFile())
        .build();
    return Grpc.newChannelBuilderForAddress("localhost", server.grpcPort(), credentials).build();
  }

  private ExchangeResponse chatThrough(ManagedChannel channel) throws Exception {
    EnvoyResources.Resources r = EnvoyResources.build(config);
    TestEnvoy.Builder b = TestEnvoy.builder().extProc("127.0.0.1", server.grpcPort())
        .routerFilter(GatewayFixture.routerFilterFromBootstrap()).routes(r.routes().get(0))
        .resources(r.clusters(), r.endpoints());
    if (channel != null) {
      b.extProcChannel(channel);
    }
    try (TestEnvoy envoy = b.build()) {
      return envoy.send(ExchangeRequest.post("/v1/chat/completions", CHAT, "authorization", "Bearer " + KEY));
    }
  }

  @Test
  void envoyWithTheAllowedClientCertificateIsServedAndTheKeyIsInjected() throws Exception {
    ExchangeResponse r = chatThrough(tlsChannel(ca.issue("envoy", "uri:spiffe://weir/envoy")));
    assertEquals(200, r.status(), r.toString());
    assertEquals("Bearer " + BACKEND_SECRET, upstream.last().header("authorization"));
  }

  @Test
  void aClientCertificateWithASanOutsideTheAllowListIsRefused() throws Exception {
    int before = upstream.received().size();
    ExchangeResponse r = chatThrough(tlsChannel(ca.issue("intruder", "uri:spiffe://weir/intruder", "dns:localhost")));
    assertEquals(500, r.status(), "the ext_proc stream never opens: Envoy fails closed");
    assertEquals(before, upstream.received().size());
  }

  @Test
  void aClientCertificateFromAnotherAuthorityIsRefused() throws Exception {
    TestCertificates rogue = TestCertificates.authority(dir, "rogue");
    ExchangeResponse r = chatThrough(tlsChannel(rogue.issue("rogue-envoy", "uri:spiffe://weir/envoy")));
    assertEquals(500, r.status());
    assertTrue(upstream.received().isEmpty());
  }

  @Test
  void aPlaintextClientGetsNoStream() throws Exception {
    ExchangeResponse r = chatThrough(null);
    assertEquals(500, r.status());
    assertTrue(upstream.received().isEmpty());
  }

  @Test
  void withoutTlsANonLoopbackBindIsRefusedUnlessInsecureBindIsGiven() throws Exception {
    GatewayConfig plain = config.toBuilder().clearSecurity().build();
    IOException refused = assertThrows(IOException.class, () -> new ExtProcServer(plain,
        Map.of("UP_KEY", BACKEND_SECRET)::get, "0.0.0.0", 0, 0, null, false, false));
    assertTrue(refused.getMessage().contains("--insecure-bind"), refused.getMessage());
    try (ExtProcServer insecure = new ExtProcServer(plain, Map.of("UP_KEY", BACKEND_SECRET)::get, "0.0.0.0", 0, 0,
        null, false, true)) {
      assertTrue(insecure.grpcPort() > 0);
    }
  }
}
