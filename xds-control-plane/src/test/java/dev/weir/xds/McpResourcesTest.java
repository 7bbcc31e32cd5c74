package dev.weir.xds;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.util.Durations;
import dev.weir.config.ConfigLoader;
import dev.weir.config.Wire;
import dev.weir.testkit.EnvoyYaml;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext;
import io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The Envoy resources of examples/mcp.yaml's MCP servers, field by field, and strictly re-parsed. */
class McpResourcesTest {
  static EnvoyResources.Resources resources;

  @BeforeAll
  static void build() throws Exception {
    resources = EnvoyResources.build(new ConfigLoader(name -> "test-key", true).load(Path.of("..", "examples", "mcp.yaml")));
  }

  private static Route route(String name) {
    return resources.routes().get(0).getVirtualHosts(0).getRoutesList().stream()
        .filter(r -> r.getName().equals(name)).findFirst().orElseThrow();
  }

  @Test
  void aPassedThroughServerGetsATlsClusterForItsHost() throws Exception {
    Cluster c = resources.clusters().stream().filter(x -> x.getName().equals(Wire.mcpCluster("tracker")))
        .findFirst().orElseThrow();
    assertEquals(Cluster.DiscoveryType.STRICT_DNS, c.getType());
    var address = c.getLoadAssignment().getEndpoints(0).getLbEndpoints(0).getEndpoint().getAddress().getSocketAddress();
    assertEquals("tracker.example.com", address.getAddress());
    assertEquals(443, address.getPortValue());
    UpstreamTlsContext tls = c.getTransportSocket().getTypedConfig().unpack(UpstreamTlsContext.class);
    assertEquals("tracker.example.com", tls.getSni());
    HttpProtocolOptions protocol = c.getTypedExtensionProtocolOptionsOrThrow(EnvoyResources.PROTOCOL_OPTIONS_KEY)
        .unpack(HttpProtocolOptions.class);
    // One host and one credential, injected by the router pass: no upstream ext_proc filter.
    assertEquals(0, protocol.getHttpFiltersCount());
  }

  @Test
  void theRouteMatchesTheServerHeaderWithoutAnOverallTimeout() {
    Route r = route("mcp-tracker");
    assertEquals(Wire.MCP_SERVER_HEADER, r.getMatch().getHeaders(0).getName());
    assertEquals("tracker", r.getMatch().getHeaders(0).getStringMatch().getExact());
    assertEquals(Wire.mcpCluster("tracker"), r.getRoute().getCluster());
    assertEquals(0, Durations.toMillis(r.getRoute().getTimeout()));
    assertEquals(300, r.getRoute().getIdleTimeout().getSeconds());
    var names = resources.routes().get(0).getVirtualHosts(0).getRoutesList().stream().map(Route::getName).toList();
    assertEquals("unrouted", names.get(names.size() - 1), "the catch-all stays last");
  }

  @Test
  void aRestApiServedAsMcpGetsNoClusterOrRoute() {
    assertTrue(resources.clusters().stream().noneMatch(c -> c.getName().equals(Wire.mcpCluster("tickets"))));
    assertTrue(resources.routes().get(0).getVirtualHosts(0).getRoutesList().stream()
        .noneMatch(r -> r.getName().equals("mcp-tickets")));
  }

  @Test
  void mcpResourcesSurviveAStrictRoundTripThroughEnvoyJson() throws Exception {
    for (Cluster c : resources.clusters()) {
      assertEquals(c, EnvoyYaml.parse(EnvoyYaml.print(c), Cluster.newBuilder()).build());
    }
    RouteConfiguration rc = resources.routes().get(0);
    assertEquals(rc, EnvoyYaml.parse(EnvoyYaml.print(rc), RouteConfiguration.newBuilder()).build());
  }
}
