package dev.weir.xds;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.ConfigLoader;
import dev.weir.config.Wire;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Node;
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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A real gRPC ADS client against the control plane: initial fetch, ACK, and a refused reload. */
class AdsServerTest {
  static final String CDS = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
  static final String RDS = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";

  @Test
  void envoyFetchesClustersAndRoutesAndABrokenReloadKeepsTheRunningVersion(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("gateway.yaml");
    Files.copy(Path.of("..", "examples", "gateway.yaml"), file);
    try (ControlPlaneServer server = new ControlPlaneServer(file, ConfigLoader.forControlPlane().load(file),
        "127.0.0.1", 0, 0)) {
      ManagedChannel ch = ManagedChannelBuilder.forAddress("127.0.0.1", server.adsPort()).usePlaintext().build();
      LinkedBlockingQueue<DiscoveryResponse> responses = new LinkedBlockingQueue<>();
      StreamObserver<DiscoveryRequest> ads = AggregatedDiscoveryServiceGrpc.newStub(ch).streamAggregatedResources(
          new StreamObserver<>() {
            public void onNext(DiscoveryResponse r) { responses.add(r); }
            public void onError(Throwable t) {}
            public void onCompleted() {}
          });
      Node node = Node.newBuilder().setId("envoy-1").setCluster("weir").build();
      ads.onNext(DiscoveryRequest.newBuilder().setNode(node).setTypeUrl(CDS).build());
      DiscoveryResponse cds = responses.poll(5, TimeUnit.SECONDS);
      assertEquals(CDS, cds.getTypeUrl());
      assertEquals("1", cds.getVersionInfo());
      assertEquals(2, cds.getResourcesCount());
      Cluster first = cds.getResources(0).unpack(Cluster.class);
      assertTrue(first.getName().startsWith("pool_"));
      // ACK, then ask for the routes.
      ads.onNext(DiscoveryRequest.newBuilder().setNode(node).setTypeUrl(CDS)
          .setVersionInfo(cds.getVersionInfo()).setResponseNonce(cds.getNonce()).build());
      ads.onNext(DiscoveryRequest.newBuilder().setNode(node).setTypeUrl(RDS)
          .addResourceNames(Wire.ROUTE_CONFIG_NAME).build());
      DiscoveryResponse rds = responses.poll(5, TimeUnit.SECONDS);
      assertEquals(RDS, rds.getTypeUrl());
      assertEquals(Wire.ROUTE_CONFIG_NAME, rds.getResources(0).unpack(RouteConfiguration.class).getName());

      // A broken edit is refused by the admin reload and the running version stays.
      Files.writeString(file, Files.readString(file).replace("backend: openai,", "backend: opneai,"));
      HttpResponse<String> reload = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
          URI.create("http://127.0.0.1:" + server.adminPort() + "/reload"))
          .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
      assertEquals(400, reload.statusCode());
      assertTrue(reload.body().contains("pools[0].members[1].backend"), reload.body());
      assertEquals("1", server.version());
      assertTrue(responses.poll(300, TimeUnit.MILLISECONDS) == null, "nothing was pushed");

      // A valid edit is pushed to the open stream as version 2.
      Files.writeString(file, Files.readString(file).replace("backend: opneai,", "backend: openai, weight: 3,"));
      reload = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
          URI.create("http://127.0.0.1:" + server.adminPort() + "/reload"))
          .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
      assertEquals(200, reload.statusCode(), reload.body());
      DiscoveryResponse pushed = responses.poll(5, TimeUnit.SECONDS);
      assertEquals("2", pushed.getVersionInfo());
      ads.onCompleted();
      ch.shutdownNow();
    }
  }
}
