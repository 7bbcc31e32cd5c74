package dev.weir.testkit;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Node;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpc;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryResponse;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BiConsumer;

/**
 * An ADS subscriber that does what Envoy does with CDS and RDS: subscribes, ACKs each response
 * with its version and nonce, and hands every new (clusters, routes) pair to a listener.
 */
public final class AdsSnapshot implements AutoCloseable {
  static final String CDS = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
  static final String RDS = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";

  private final ManagedChannel channel;
  private final StreamObserver<DiscoveryRequest> stream;
  private final Node node;
  private volatile List<Cluster> clusters;
  private volatile RouteConfiguration routes;

  public AdsSnapshot(String host, int port, String routeConfigName,
      BiConsumer<List<Cluster>, RouteConfiguration> onUpdate) {
    channel = ManagedChannelBuilder.forAddress(host, port).usePlaintext().build();
    node = Node.newBuilder().setId("weir-dev-envoy").setCluster("weir").build();
    stream = AggregatedDiscoveryServiceGrpc.newStub(channel).streamAggregatedResources(new StreamObserver<>() {
      @Override
      public void onNext(DiscoveryResponse r) {
        try {
          if (r.getTypeUrl().equals(CDS)) {
            List<Cluster> next = new ArrayList<>();
            for (Any a : r.getResourcesList()) {
              next.add(a.unpack(Cluster.class));
            }
            clusters = next;
          } else if (r.getTypeUrl().equals(RDS)) {
            for (Any a : r.getResourcesList()) {
              routes = a.unpack(RouteConfiguration.class);
            }
          }
          ack(r, routeConfigName);
          if (clusters != null && routes != null) {
            onUpdate.accept(clusters, routes);
          }
        } catch (InvalidProtocolBufferException e) {
          nack(r, e.getMessage());
        }
      }

      @Override
      public void onError(Throwable t) {
        System.err.println("ADS stream failed: " + t);
      }

      @Override
      public void onCompleted() {}
    });
    synchronized (this) {
      stream.onNext(DiscoveryRequest.newBuilder().setNode(node).setTypeUrl(CDS).build());
      stream.onNext(DiscoveryRequest.newBuilder().setNode(node).setTypeUrl(RDS).addResourceNames(routeConfigName).build());
    }
  }

  private synchronized void ack(DiscoveryResponse r, String routeConfigName) {
    DiscoveryRequest.Builder ack = DiscoveryRequest.newBuilder().setNode(node).setTypeUrl(r.getTypeUrl())
        .setVersionInfo(r.getVersionInfo()).setResponseNonce(r.getNonce());
    if (r.getTypeUrl().equals(RDS)) {
      ack.addResourceNames(routeConfigName);
    }
    stream.onNext(ack.build());
  }

  private synchronized void nack(DiscoveryResponse r, String error) {
    stream.onNext(DiscoveryRequest.newBuilder().setNode(node).setTypeUrl(r.getTypeUrl())
        .setResponseNonce(r.getNonce())
        .setErrorDetail(com.google.rpc.Status.newBuilder().setCode(3).setMessage(error)).build());
  }

  @Override
  public void close() {
    stream.onCompleted();
    channel.shutdownNow();
  }
}
