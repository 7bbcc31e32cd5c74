package dev.weir.xds;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.util.Durations;
import dev.weir.config.ConfigLoader;
import dev.weir.config.Wire;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.testkit.EnvoyYaml;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.route.v3.RetryPolicy;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor;
import io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The resources built from the shipped example config, field by field, and strictly re-parsed. */
class EnvoyResourcesTest {
  static GatewayConfig config;
  static EnvoyResources.Resources resources;

  @BeforeAll
  static void build() throws Exception {
    config = ConfigLoader.forControlPlane().load(Path.of("..", "examples", "gateway.yaml"));
    resources = EnvoyResources.build(config);
  }

  private static Cluster cluster(String pool) {
    return resources.clusters().stream().filter(c -> c.getName().equals(Wire.poolCluster(pool))).findFirst()
        .orElseThrow();
  }

  @Test
  void ptuIsPriorityZeroAndPayAsYouGoPriorityOneEachTaggedWithItsBackend() {
    Cluster c = cluster("gpt-4o");
    assertEquals(Cluster.DiscoveryType.STRICT_DNS, c.getType());
    var levels = c.getLoadAssignment().getEndpointsList();
    assertEquals(2, levels.size());
    assertEquals(0, levels.get(0).getPriority());
    assertEquals(1, levels.get(1).getPriority());
    LbEndpoint ptu = levels.get(0).getLbEndpoints(0);
    assertEquals("eastus.example.openai.azure.com", ptu.getEndpoint().getAddress().getSocketAddress().getAddress());
    assertEquals(443, ptu.getEndpoint().getAddress().getSocketAddress().getPortValue());
    assertEquals("eastus.example.openai.azure.com", ptu.getEndpoint().getHostname());
    assertEquals("aoai-eastus", ptu.getMetadata().getFilterMetadataOrThrow(Wire.METADATA_NAMESPACE)
        .getFieldsOrThrow(Wire.BACKEND_KEY).getStringValue());
    assertEquals("openai", levels.get(1).getLbEndpoints(0).getMetadata()
        .getFilterMetadataOrThrow(Wire.METADATA_NAMESPACE).getFieldsOrThrow(Wire.BACKEND_KEY).getStringValue());
  }

  @Test
  void publicBackendsGetTlsWithSniAndLocalOnesPlainHttp() throws Exception {
    Cluster c = cluster("gpt-4o");
    assertEquals(1, c.getTransportSocketMatchesCount());
    assertEquals("envoy.transport_sockets.tls", c.getTransportSocketMatches(0).getTransportSocket().getName());
    HttpProtocolOptions options = c.getTypedExtensionProtocolOptionsOrThrow(EnvoyResources.PROTOCOL_OPTIONS_KEY)
        .unpack(HttpProtocolOptions.class);
    assertTrue(options.getUpstreamHttpProtocolOptions().getAutoSni());
    assertTrue(options.getUpstreamHttpProtocolOptions().getAutoSanValidation());
    Cluster local = cluster("llama");
    assertEquals(0, local.getTransportSocketMatchesCount(), "http:// backends are plain");
    assertEquals(Cluster.LbPolicy.ROUND_ROBIN, local.getLbPolicy());
  }

  @Test
  void everyPoolClusterRunsTheUpstreamPassBeforeTheCodec() throws Exception {
    for (Cluster c : resources.clusters()) {
      HttpProtocolOptions options = c.getTypedExtensionProtocolOptionsOrThrow(EnvoyResources.PROTOCOL_OPTIONS_KEY)
          .unpack(HttpProtocolOptions.class);
      assertEquals(List.of("envoy.filters.http.ext_proc", "envoy.filters.http.upstream_codec"),
          options.getHttpFiltersList().stream().map(f -> f.getName()).toList());
      ExternalProcessor ep = options.getHttpFilters(0).getTypedConfig().unpack(ExternalProcessor.class);
      assertEquals(List.of(Wire.BACKEND_ATTRIBUTE), ep.getRequestAttributesList());
      assertEquals(Wire.UPSTREAM_PASS, ep.getGrpcService().getInitialMetadata(0).getValue());
      assertEquals(Wire.EXT_PROC_CLUSTER, ep.getGrpcService().getEnvoyGrpc().getClusterName());
      assertTrue(ep.getAllowModeOverride());
    }
  }

  @Test
  void routesMatchThePoolHeaderAndRetryOnAnotherHostAndPriority() {
    RouteConfiguration rc = resources.routes().get(0);
    assertEquals(Wire.ROUTE_CONFIG_NAME, rc.getName());
    Route route = rc.getVirtualHosts(0).getRoutes(0);
    assertEquals(Wire.POOL_HEADER, route.getMatch().getHeaders(0).getName());
    assertEquals("gpt-4o", route.getMatch().getHeaders(0).getStringMatch().getExact());
    assertEquals(Wire.poolCluster("gpt-4o"), route.getRoute().getCluster());
    assertTrue(route.getRoute().getAutoHostRewrite().getValue(), "Host becomes the backend's hostname");
    RetryPolicy retry = route.getRoute().getRetryPolicy();
    assertEquals(List.of(429, 500, 502, 503, 504), retry.getRetriableStatusCodesList());
    assertTrue(retry.getRetryOn().contains("retriable-status-codes"));
    assertTrue(retry.getRetryOn().contains("connect-failure"));
    assertEquals(1, retry.getNumRetries().getValue());
    assertEquals("envoy.retry_host_predicates.previous_hosts", retry.getRetryHostPredicate(0).getName());
    assertEquals("envoy.retry_priorities.previous_priorities", retry.getRetryPriority().getName());
    assertEquals("retry-after", retry.getRateLimitedRetryBackOff().getResetHeaders(0).getName());
    assertEquals(RetryPolicy.ResetHeaderFormat.SECONDS, retry.getRateLimitedRetryBackOff().getResetHeaders(0).getFormat());
    assertEquals(600, Durations.toSeconds(route.getRoute().getTimeout()));
    Route last = rc.getVirtualHosts(0).getRoutes(rc.getVirtualHosts(0).getRoutesCount() - 1);
    assertEquals(404, last.getDirectResponse().getStatus());
  }

  @Test
  void everyResourceSurvivesAStrictRoundTripThroughEnvoyJson() throws Exception {
    for (Cluster c : resources.clusters()) {
      assertEquals(c, EnvoyYaml.parse(EnvoyYaml.print(c), Cluster.newBuilder()).build());
    }
    RouteConfiguration rc = resources.routes().get(0);
    assertEquals(rc, EnvoyYaml.parse(EnvoyYaml.print(rc), RouteConfiguration.newBuilder()).build());
  }

  @Test
  void priorityLevelsAreRenumberedContiguously() throws Exception {
    GatewayConfig gaps = config.toBuilder().setPools(0, config.getPools(0).toBuilder()
        .setMembers(0, config.getPools(0).getMembers(0).toBuilder().setPriority(3))
        .setMembers(1, config.getPools(0).getMembers(1).toBuilder().setPriority(7))).build();
    var levels = EnvoyResources.build(gaps).clusters().get(0).getLoadAssignment().getEndpointsList();
    assertEquals(List.of(0, 1), levels.stream().map(l -> l.getPriority()).toList());
  }
}
