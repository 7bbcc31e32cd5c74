package dev.weir.testkit;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Node;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpc;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryResponse;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.List;

/**
 * An ADS subscriber that does what Envoy does with CDS and RDS: subscribes, ACKs each response
 * with its version and nonce, and hands every new (clusters, routes) pair to a listener.
 */
public final class AdsSnapshot implements AutoCloseable {
  static final String CDS = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
  static final String RDS = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
  static final String EDS = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";

  private final ManagedChannel channel;
  private final StreamObserver<DiscoveryRequest> stream;
  private final Node node;
  private volatile List<Cluster> clusters;
  private volatile RouteConfiguration routes;
  private final java.util.Map<String, ClusterLoadAssignment> endpoints = new java.util.concurrent.ConcurrentHashMap<>();
  private volatile List<String> edsNames = List.of();

  /** What the subscriber has, whenever it changes and is complete. */
  public interface Listener {
    void update(List<Cluster> clusters, List<ClusterLoadAssignment> endpoints, RouteConfiguration routes);
  }

  public AdsSnapshot(String host, int port, String routeConfigName, Listener onUpdate) {
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
            edsNames = next.stream().filter(c -> c.getType() == Cluster.DiscoveryType.EDS).map(Cluster::getName).toList();
          } else if (r.getTypeUrl().equals(RDS)) {
            for (Any a : r.getResourcesList()) {
              routes = a.unpack(RouteConfiguration.class);
            }
          } else if (r.getTypeUrl().equals(EDS)) {
            for (Any a : r.getResourcesList()) {
              ClusterLoadAssignment cla = a.unpack(ClusterLoadAssignment.class);
              endpoints.put(cla.getClusterName(), cla);
            }
          }
          ack(r, routeConfigName);
          if (r.getTypeUrl().equals(CDS) && !edsNames.isEmpty()) {
            // As Envoy does: a new CDS response (re)subscribes to its EDS clusters' endpoints.
            subscribeEds();
          }
          boolean complete = clusters != null && routes != null && endpoints.keySet().containsAll(edsNames);
          if (complete) {
            onUpdate.update(clusters, edsNames.stream().map(endpoints::get).toList(), routes);
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
    } else if (r.getTypeUrl().equals(EDS)) {
      ack.addAllResourceNames(edsNames);
      edsVersion = r.getVersionInfo();
      edsNonce = r.getNonce();
    }
    stream.onNext(ack.build());
  }

  private String edsVersion = "";
  private String edsNonce = "";

  private synchronized void subscribeEds() {
    stream.onNext(DiscoveryRequest.newBuilder().setNode(node).setTypeUrl(EDS).addAllResourceNames(edsNames)
        .setVersionInfo(edsVersion).setResponseNonce(edsNonce).build());
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
