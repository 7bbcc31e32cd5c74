package dev.weir.xds;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.ConfigLoader;
import dev.weir.config.Wire;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.HealthStatus;
import io.envoyproxy.envoy.config.core.v3.Node;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpc;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryResponse;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.stub.StreamObserver;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real gRPC ADS client against the control plane, doing what Envoy does: initial fetch of every
 * type, ACK, NACK, updates after config changes (file watch and admin API), several node groups.
 */
class AdsServerTest {
  static final String CDS = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
  static final String EDS = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
  static final String LDS = "type.googleapis.com/envoy.config.listener.v3.Listener";
  static final String RDS = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";

  static final java.util.Map<String, String> ENV = java.util.Map.of("AOAI_EASTUS_KEY", "k", "OPENAI_API_KEY", "k",
      "WEIR_ADMIN_TOKEN", "admin-secret");

  @TempDir Path dir;
  Path file;
  ControlPlaneServer server;
  ManagedChannel channel;
  final HttpClient http = HttpClient.newHttpClient();

  @BeforeEach
  void start() throws Exception {
    file = dir.resolve("gateway.yaml");
    Files.writeString(file, Files.readString(Path.of("..", "examples", "gateway.yaml"))
        + "\nsecurity: { adminToken: { env: WEIR_ADMIN_TOKEN } }\n");
    server = new ControlPlaneServer(file, new ConfigLoader(ENV::get, true).load(file), ENV::get, "127.0.0.1", 0, 0,
        true, false);
    channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.adsPort()).usePlaintext().build();
  }

  @AfterEach
  void stop() {
    channel.shutdownNow();
    server.close();
  }

  /** One Envoy's ADS stream. */
  final class Envoy {
    final Node node;
    final LinkedBlockingQueue<DiscoveryResponse> responses = new LinkedBlockingQueue<>();
    final StreamObserver<DiscoveryRequest> stream;

    Envoy(String id, String cluster) {
      node = Node.newBuilder().setId(id).setCluster(cluster).build();
      stream = AggregatedDiscoveryServiceGrpc.newStub(channel).streamAggregatedResources(new StreamObserver<>() {
        public void onNext(DiscoveryResponse r) { responses.add(r); }
        public void onError(Throwable t) {}
        public void onCompleted() {}
      });
    }

    DiscoveryResponse ask(String type, String... names) throws InterruptedException {
      stream.onNext(DiscoveryRequest.newBuilder().setNode(node).setTypeUrl(type)
          .addAllResourceNames(java.util.List.of(names)).build());
      return next();
    }

    DiscoveryResponse next() throws InterruptedException {
      DiscoveryResponse r = responses.poll(5, TimeUnit.SECONDS);
      if (r == null) {
        throw new AssertionError("no DiscoveryResponse within 5 s");
      }
      return r;
    }

    void ack(DiscoveryResponse r, String... names) {
      stream.onNext(DiscoveryRequest.newBuilder().setNode(node).setTypeUrl(r.getTypeUrl())
          .addAllResourceNames(java.util.List.of(names))
          .setVersionInfo(r.getVersionInfo()).setResponseNonce(r.getNonce()).build());
    }

    void nack(DiscoveryResponse r, String previousVersion, String error) {
      stream.onNext(DiscoveryRequest.newBuilder().setNode(node).setTypeUrl(r.getTypeUrl())
          .setVersionInfo(previousVersion).setResponseNonce(r.getNonce())
          .setErrorDetail(com.google.rpc.Status.newBuilder().setCode(3).setMessage(error)).build());
    }
  }

  private HttpResponse<String> post(String path) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.adminPort() + path))
        .header("authorization", "Bearer admin-secret").POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void initialFetchOfEveryTypeThenAckAndAPushAfterTheFileChanges() throws Exception {
    Envoy envoy = new Envoy("envoy-1", "weir");
    DiscoveryResponse cds = envoy.ask(CDS);
    assertEquals("1", cds.getVersionInfo());
    assertEquals(2, cds.getResourcesCount());
    envoy.ack(cds);
    DiscoveryResponse eds = envoy.ask(EDS, Wire.poolCluster("llama"));
    assertEquals(Wire.poolCluster("llama"), eds.getResources(0).unpack(ClusterLoadAssignment.class).getClusterName());
    envoy.ack(eds, Wire.poolCluster("llama"));
    DiscoveryResponse lds = envoy.ask(LDS);
    assertEquals("weir", lds.getResources(0).unpack(Listener.class).getName());
    envoy.ack(lds);
    DiscoveryResponse rds = envoy.ask(RDS, Wire.ROUTE_CONFIG_NAME);
    assertEquals(Wire.ROUTE_CONFIG_NAME, rds.getResources(0).unpack(RouteConfiguration.class).getName());
    envoy.ack(rds, Wire.ROUTE_CONFIG_NAME);
    assertNull(envoy.responses.poll(200, TimeUnit.MILLISECONDS), "ACKs are not answered");

    // Editing the file is enough: the watcher reloads and pushes the new version.
    Files.writeString(file, Files.readString(file).replace("{ backend: openai, priority: 1,",
        "{ backend: openai, priority: 1, weight: 4,"));
    DiscoveryResponse pushed = envoy.next();
    assertEquals("2", pushed.getVersionInfo());
    while (!pushed.getTypeUrl().equals(CDS)) {
      pushed = envoy.next();
    }
    Cluster gpt = pushed.getResources(0).unpack(Cluster.class);
    assertEquals(4, gpt.getLoadAssignment().getEndpoints(1).getLbEndpoints(0).getLoadBalancingWeight().getValue());
  }

  @Test
  void brokenFileEditIsRefusedWithItsPathAndNothingIsPushed() throws Exception {
    Envoy envoy = new Envoy("envoy-1", "weir");
    envoy.ack(envoy.ask(CDS));
    Files.writeString(file, Files.readString(file).replace("backend: openai,", "backend: opneai,"));
    assertNull(envoy.responses.poll(1500, TimeUnit.MILLISECONDS), "nothing was pushed");
    assertEquals("1", server.version());
    String status = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.adminPort() + "/status"))
        .build(), HttpResponse.BodyHandlers.ofString()).body();
    assertTrue(status.contains("pools[0].members[1].backend (line 22): no backend named \"opneai\""), status);
    HttpResponse<String> reload = post("/reload");
    assertEquals(400, reload.statusCode());
    assertTrue(reload.body().contains("version 1 stays"), reload.body());
  }

  @Test
  void nackIsLoggedAndTheServerKeepsOfferingTheSameVersion() throws Exception {
    Envoy envoy = new Envoy("envoy-1", "weir");
    DiscoveryResponse cds = envoy.ask(CDS);
    envoy.nack(cds, "", "cluster pool_gpt-4o: invalid transport socket");
    assertNull(envoy.responses.poll(300, TimeUnit.MILLISECONDS), "a NACK is not answered with a new version");
    assertEquals("1", server.version());
    // A later valid change is still delivered to the NACKing Envoy.
    assertEquals(200, post("/backends/openai/weight?value=2").statusCode());
    assertEquals("2", envoy.next().getVersionInfo());
  }

  @Test
  void everyNodeGroupGetsTheSnapshotAndEveryUpdate() throws Exception {
    Envoy a = new Envoy("sidecar-a", "team-a-pods");
    Envoy b = new Envoy("sidecar-b", "team-b-pods");
    Envoy noCluster = new Envoy("bare", "");
    for (Envoy e : new Envoy[] {a, b, noCluster}) {
      DiscoveryResponse r = e.ask(CDS);
      assertEquals("1", r.getVersionInfo());
      e.ack(r);
    }
    assertEquals(200, post("/backends/aoai-eastus/drain").statusCode());
    for (Envoy e : new Envoy[] {a, b, noCluster}) {
      DiscoveryResponse r = e.next();
      assertEquals("2", r.getVersionInfo());
      Cluster gpt = r.getResources(0).unpack(Cluster.class);
      assertEquals(HealthStatus.DRAINING, gpt.getLoadAssignment().getEndpoints(0).getLbEndpoints(0).getHealthStatus());
    }
  }

  private String page(String path) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.adminPort() + path)).build(),
        HttpResponse.BodyHandlers.ofString()).body();
  }

  @Test
  void aBreakerTripIsAnUnhealthyEndpointOnEveryEnvoyUntilItEndsThenTheMemberIsHalfOpen() throws Exception {
    java.util.concurrent.atomic.AtomicLong now = new java.util.concurrent.atomic.AtomicLong(1_000_000);
    server.ads().trips().clock(now::get);
    Envoy a = new Envoy("sidecar-a", "team-a-pods");
    Envoy b = new Envoy("sidecar-b", "team-b-pods");
    for (Envoy e : new Envoy[] {a, b}) {
      e.ack(e.ask(CDS));
    }
    assertEquals(404, post("/breaker/trip?pool=gpt-4o&backend=nope&seconds=5").statusCode());
    assertEquals(400, post("/breaker/trip?pool=gpt-4o&backend=aoai-eastus&seconds=0").statusCode());
    assertEquals(200, post("/breaker/trip?pool=gpt-4o&backend=aoai-eastus&seconds=20&reason=status%20429").statusCode());
    for (Envoy e : new Envoy[] {a, b}) {
      DiscoveryResponse r = e.next();
      e.ack(r);
      Cluster gpt = r.getResources(0).unpack(Cluster.class);
      assertEquals(HealthStatus.UNHEALTHY, gpt.getLoadAssignment().getEndpoints(0).getLbEndpoints(0).getHealthStatus());
    }
    assertTrue(page("/status").contains("gpt-4o/aoai-eastus: tripped until"), page("/status"));
    String version = server.version();
    assertEquals(200, post("/breaker/trip?pool=gpt-4o&backend=aoai-eastus&seconds=30&reason=again").statusCode());
    assertEquals(version, server.version(), "a longer trip of a tripped member pushes nothing");
    now.addAndGet(30_000);
    server.ads().trips().expire(); // or the server's own timer, whichever runs first
    DiscoveryResponse back = a.next();
    assertEquals(HealthStatus.UNKNOWN, back.getResources(0).unpack(Cluster.class).getLoadAssignment().getEndpoints(0)
        .getLbEndpoints(0).getHealthStatus(), "back in the load assignment");
    assertTrue(page("/status").contains("gpt-4o/aoai-eastus: half-open"), page("/status"));
    assertTrue(post("/breaker/recover?pool=gpt-4o&backend=aoai-eastus").body().startsWith("recovered"));
    assertTrue(server.ads().trips().current().isEmpty());
    assertEquals(200, post("/breaker/weight?pool=gpt-4o&backend=openai&value=32").statusCode());
    assertEquals(400, post("/breaker/weight?pool=gpt-4o&backend=openai&value=129").statusCode());
    assertTrue(page("/resources").contains("\"loadBalancingWeight\": 32"));
  }

  @Test
  void aTripInMillisecondsEndsOnTimeAndARecoveryDuringATripPutsTheMemberBackAtOnce() throws Exception {
    java.util.concurrent.atomic.AtomicLong now = new java.util.concurrent.atomic.AtomicLong(1_000_000);
    server.ads().trips().clock(now::get);
    Envoy a = new Envoy("sidecar-a", "team-a-pods");
    a.ack(a.ask(CDS));
    assertEquals(400, post("/breaker/trip?pool=gpt-4o&backend=aoai-eastus&millis=0").statusCode());
    assertEquals(200, post("/breaker/trip?pool=gpt-4o&backend=aoai-eastus&millis=400&reason=status%20429").statusCode());
    DiscoveryResponse out = a.next();
    a.ack(out);
    assertEquals(HealthStatus.UNHEALTHY, out.getResources(0).unpack(Cluster.class).getLoadAssignment().getEndpoints(0)
        .getLbEndpoints(0).getHealthStatus());
    now.addAndGet(399);
    assertEquals(0, server.ads().trips().expire(), "399 ms into a 400 ms trip");
    now.addAndGet(1);
    assertEquals(1, server.ads().trips().expire());
    a.ack(a.next());
    assertEquals(200, post("/breaker/trip?pool=gpt-4o&backend=aoai-eastus&millis=20000&reason=again").statusCode());
    a.ack(a.next());
    // A probe sent while every member was tripped answered well: the trip ends now, not in 20 s.
    assertTrue(post("/breaker/recover?pool=gpt-4o&backend=aoai-eastus").body().startsWith("recovered"));
    DiscoveryResponse back = a.next();
    assertEquals(HealthStatus.UNKNOWN, back.getResources(0).unpack(Cluster.class).getLoadAssignment().getEndpoints(0)
        .getLbEndpoints(0).getHealthStatus(), "back in the load assignment");
    assertTrue(server.ads().trips().current().isEmpty());
  }

  @Test
  void breakerReportsWithoutTheAdminTokenAreRefused() throws Exception {
    HttpResponse<String> trip = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.adminPort()
        + "/breaker/trip?pool=gpt-4o&backend=aoai-eastus&seconds=20")).POST(HttpRequest.BodyPublishers.noBody()).build(),
        HttpResponse.BodyHandlers.ofString());
    assertEquals(401, trip.statusCode(), trip.body());
    assertTrue(server.ads().trips().current().isEmpty());
  }

  @Test
  void drainAndReweightSurviveAReloadAndCanBeUndone() throws Exception {
    assertEquals(200, post("/backends/aoai-eastus/drain").statusCode());
    assertEquals(200, post("/backends/openai/weight?value=7").statusCode());
    assertEquals(400, post("/backends/openai/weight?value=0").statusCode());
    assertEquals(404, post("/backends/nope/drain").statusCode());
    assertEquals(200, post("/reload").statusCode());
    String resources = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.adminPort()
        + "/resources")).build(), HttpResponse.BodyHandlers.ofString()).body();
    assertTrue(resources.contains("\"healthStatus\": \"DRAINING\""), "drain survives a reload");
    assertTrue(resources.contains("\"loadBalancingWeight\": 7"), "weight survives a reload");
    assertEquals(200, post("/backends/aoai-eastus/undrain").statusCode());
    assertEquals(200, post("/backends/openai/unweight").statusCode());
    resources = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.adminPort()
        + "/resources")).build(), HttpResponse.BodyHandlers.ofString()).body();
    assertTrue(!resources.contains("DRAINING") && !resources.contains("\"loadBalancingWeight\": 7"), resources);
  }

  @Test
  void backendsPageListsEveryBackendWithItsDrainAndWeightOverrides() throws Exception {
    assertEquals(200, post("/backends/aoai-eastus/drain").statusCode());
    assertEquals(200, post("/backends/openai/weight?value=3").statusCode());
    String page = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.adminPort()
        + "/backends")).build(), HttpResponse.BodyHandlers.ofString()).body();
    assertTrue(page.contains("{\"name\":\"aoai-eastus\",\"drained\":true}"), page);
    assertTrue(page.contains("{\"name\":\"openai\",\"drained\":false,\"weight\":3}"), page);
    assertTrue(page.contains("\"version\":\"3\""), page);
  }

  @Test
  void backendActionsWithoutTheAdminTokenAreRefusedAndChangeNothing() throws Exception {
    String before = server.version();
    HttpResponse<String> drain = http.send(HttpRequest.newBuilder(
        URI.create("http://127.0.0.1:" + server.adminPort() + "/backends/aoai-eastus/drain"))
        .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(401, drain.statusCode());
    assertEquals(before, server.version(), "nothing was published");
    assertTrue(server.ads().overrides().drainedBackends().isEmpty());
  }
}
