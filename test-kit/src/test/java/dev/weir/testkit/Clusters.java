package dev.weir.testkit;

import com.google.protobuf.UInt32Value;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.Endpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import java.util.List;

/** Builds the Envoy resources the emulator tests run on: one cluster "c", one route to it. */
final class Clusters {
  private Clusters() {}

  static LbEndpoint endpoint(int port) {
    return LbEndpoint.newBuilder().setEndpoint(Endpoint.newBuilder().setAddress(Address.newBuilder()
        .setSocketAddress(SocketAddress.newBuilder().setAddress("127.0.0.1").setPortValue(port))))
        .setLoadBalancingWeight(UInt32Value.of(1)).build();
  }

  /** Cluster "c" with one locality per priority level, holding the given upstreams' ports. */
  static Cluster.Builder cluster(List<List<ScriptedUpstream>> levels) {
    ClusterLoadAssignment.Builder cla = ClusterLoadAssignment.newBuilder().setClusterName("c");
    for (int p = 0; p < levels.size(); p++) {
      LocalityLbEndpoints.Builder locality = LocalityLbEndpoints.newBuilder().setPriority(p);
      levels.get(p).forEach(u -> locality.addLbEndpoints(endpoint(u.port())));
      cla.addEndpoints(locality);
    }
    return Cluster.newBuilder().setName("c").setLoadAssignment(cla);
  }

  static RouteConfiguration route(RouteAction.Builder action) {
    return RouteConfiguration.newBuilder().addVirtualHosts(VirtualHost.newBuilder().addDomains("*")
        .addRoutes(Route.newBuilder().setMatch(RouteMatch.newBuilder().setPrefix("/"))
            .setRoute(action.setCluster("c")))).build();
  }

  static TestEnvoy envoy(Cluster.Builder cluster, RouteAction.Builder action) {
    return TestEnvoy.builder().routes(route(action)).cluster(cluster.build()).build();
  }
}
