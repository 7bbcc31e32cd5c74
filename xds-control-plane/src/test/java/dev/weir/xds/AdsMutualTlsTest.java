package dev.weir.xds;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.ConfigLoader;
import dev.weir.testkit.EnvoyYaml;
import dev.weir.testkit.TestCertificates;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Node;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext;
import io.envoyproxy.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpc;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryResponse;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.grpc.stub.StreamObserver;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ADS with mTLS, the client side taken from envoy/envoy-mtls.yaml's weir_xds cluster (its files,
 * SNI and expected server SAN), against certificates generated here.
 */
class AdsMutualTlsTest {
  static final String CDS = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
  @TempDir Path dir;

  /** The bootstrap's UpstreamTlsContext for a cluster. */
  static UpstreamTlsContext tlsOf(String cluster) throws Exception {
    for (Cluster c : EnvoyYaml.bootstrap(Path.of("..", "envoy", "envoy-mtls.yaml")).getStaticResources().getClustersList()) {
      if (c.getName().equals(cluster)) {
        return c.getTransportSocket().getTypedConfig().unpack(UpstreamTlsContext.class);
      }
    }
    throw new AssertionError("no cluster " + cluster);
  }

  /** The bootstrap's /etc/weir/tls/NAME, here. */
  private Path local(String bootstrapPath) {
    return dir.resolve(Path.of(bootstrapPath).getFileName());
  }

  private ControlPlaneServer start(TestCertificates ca, String serverName) throws Exception {
    TestCertificates.Issued serverCert = ca.issue(serverName, "dns:" + serverName);
    Path file = dir.resolve("gateway.yaml");
    Files.writeString(file, Files.readString(Path.of("..", "examples", "gateway.yaml")) + """

        security:
          controlPlaneTls:
            certFile: %s
            keyFile: %s
            clientCaFile: %s
            allowedClientSans: [ "spiffe://weir/envoy" ]
        """.formatted(serverCert.cert(), serverCert.key(), ca.caFile()));
    Map<String, String> env = Map.of("AOAI_EASTUS_KEY", "k", "OPENAI_API_KEY", "k");
    return new ControlPlaneServer(file, new ConfigLoader(env::get, true).load(file), env::get, "127.0.0.1", 0, 0,
        false, false);
  }

  private static DiscoveryResponse fetchClusters(ManagedChannel channel) throws Exception {
    LinkedBlockingQueue<Object> answers = new LinkedBlockingQueue<>();
    StreamObserver<DiscoveryRequest> stream = AggregatedDiscoveryServiceGrpc.newStub(channel)
        .streamAggregatedResources(new StreamObserver<>() {
          public void onNext(DiscoveryResponse r) { answers.add(r); }
          public void onError(Throwable t) { answers.add(t); }
          public void onCompleted() {}
        });
    stream.onNext(DiscoveryRequest.newBuilder().setNode(Node.newBuilder().setId("envoy-1").setCluster("weir"))
        .setTypeUrl(CDS).build());
    Object answer = answers.poll(10, TimeUnit.SECONDS);
    channel.shutdownNow();
    if (answer instanceof StatusRuntimeException e) {
      throw e;
    }
    return (DiscoveryResponse) answer;
  }

  private ManagedChannel channelAsTheBootstrapSaysIt(int port) throws Exception {
    UpstreamTlsContext tls = tlsOf("weir_xds");
    var cert = tls.getCommonTlsContext().getTlsCertificates(0);
    var credentials = TlsChannelCredentials.newBuilder()
        .keyManager(local(cert.getCertificateChain().getFilename()).toFile(),
            local(cert.getPrivateKey().getFilename()).toFile())
        .trustManager(local(tls.getCommonTlsContext().getValidationContext().getTrustedCa().getFilename()).toFile())
        .build();
    // Envoy sends the SNI and checks the server certificate's DNS SAN against the matcher; grpc-java
    // checks the authority against the certificate, so the authority stands for both.
    String expected = tls.getCommonTlsContext().getValidationContext().getMatchTypedSubjectAltNames(0)
        .getMatcher().getExact();
    assertEquals(tls.getSni(), expected);
    return Grpc.newChannelBuilderForAddress("127.0.0.1", port, credentials).overrideAuthority(expected).build();
  }

  @Test
  void envoyWithTheBootstrapsClientCertificateGetsItsClusters() throws Exception {
    TestCertificates ca = TestCertificates.authority(dir, "weir");
    Files.copy(ca.caFile(), dir.resolve("ca.pem"));
    TestCertificates.Issued envoy = ca.issue("envoy-issued", "uri:spiffe://weir/envoy");
    Files.copy(envoy.cert(), dir.resolve("envoy.pem"));
    Files.copy(envoy.key(), dir.resolve("envoy-key.pem"));
    try (ControlPlaneServer server = start(ca, "xds-control-plane")) {
      DiscoveryResponse cds = fetchClusters(channelAsTheBootstrapSaysIt(server.adsPort()));
      assertEquals(2, cds.getResourcesCount());
    }
  }

  @Test
  void wrongOrMissingClientCertificatesGetNoResources() throws Exception {
    TestCertificates ca = TestCertificates.authority(dir, "weir");
    Files.copy(ca.caFile(), dir.resolve("ca.pem"));
    TestCertificates.Issued other = ca.issue("other", "uri:spiffe://weir/other");
    Files.copy(other.cert(), dir.resolve("envoy.pem"));
    Files.copy(other.key(), dir.resolve("envoy-key.pem"));
    try (ControlPlaneServer server = start(ca, "xds-control-plane")) {
      assertThrows(StatusRuntimeException.class, () -> fetchClusters(channelAsTheBootstrapSaysIt(server.adsPort())),
          "a SAN outside the allow-list");
      assertThrows(StatusRuntimeException.class, () -> fetchClusters(
          ManagedChannelBuilder.forAddress("127.0.0.1", server.adsPort()).usePlaintext().build()), "plaintext");
    }
  }

  @Test
  void bothBootstrapClustersPresentAClientCertificateAndCheckTheServersName() throws Exception {
    for (String cluster : new String[] {"weir_ext_proc", "weir_xds"}) {
      UpstreamTlsContext tls = tlsOf(cluster);
      assertEquals(1, tls.getCommonTlsContext().getTlsCertificatesCount(), cluster);
      assertTrue(tls.getCommonTlsContext().getValidationContext().hasTrustedCa(), cluster);
      assertEquals(1, tls.getCommonTlsContext().getValidationContext().getMatchTypedSubjectAltNamesCount(), cluster);
      assertTrue(tls.getCommonTlsContext().getAlpnProtocolsList().contains("h2"), cluster + " speaks gRPC");
    }
  }
}
