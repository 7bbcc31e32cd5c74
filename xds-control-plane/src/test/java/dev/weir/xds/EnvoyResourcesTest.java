package dev.weir.xds;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
    config = new ConfigLoader(name -> "test-key", true).load(Path.of("..", "examples", "gateway.yaml"));
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
    // 529 is Anthropic's "overloaded": another member should take the request.
    assertEquals(List.of(429, 500, 502, 503, 504, 529), retry.getRetriableStatusCodesList());
    assertTrue(retry.getRetryOn().contains("retriable-status-codes"));
    assertTrue(retry.getRetryOn().contains("connect-failure"));
    assertEquals(1, retry.getNumRetries().getValue());
    assertEquals("envoy.retry_host_predicates.previous_hosts", retry.getRetryHostPredicate(0).getName());
    assertEquals("envoy.retry_priorities.previous_priorities", retry.getRetryPriority().getName());
    assertFalse(retry.hasRateLimitedRetryBackOff(),
        "with another member to go to, a retry does not wait for the throttled one's Retry-After");
    assertEquals(600, Durations.toSeconds(route.getRoute().getTimeout()));
    Route last = rc.getVirtualHosts(0).getRoutes(rc.getVirtualHosts(0).getRoutesCount() - 1);
    assertEquals(404, last.getDirectResponse().getStatus());
  }

  @Test
  void poolsOfIpEndpointsComeOverEdsAndDnsPoolsResolveThemselves() {
    assertEquals(Cluster.DiscoveryType.EDS, cluster("llama").getType());
    assertTrue(cluster("llama").getEdsClusterConfig().getEdsConfig().hasAds());
    assertFalse(cluster("llama").hasLoadAssignment());
    assertEquals(List.of(Wire.poolCluster("llama")),
        resources.endpoints().stream().map(e -> e.getClusterName()).toList());
    assertEquals("local-vllm", resources.endpoints().get(0).getEndpoints(0).getLbEndpoints(0).getMetadata()
        .getFilterMetadataOrThrow(Wire.METADATA_NAMESPACE).getFieldsOrThrow(Wire.BACKEND_KEY).getStringValue());
    assertEquals(Cluster.DiscoveryType.STRICT_DNS, cluster("gpt-4o").getType());
  }

  @Test
  void poolSettingsBecomeCircuitBreakersEjectionTimeoutsAndHealthChecks() throws Exception {
    GatewayConfig tuned = new ConfigLoader(name -> "k", true).parse("""
        backends:
          - name: a
            provider: openai-compatible
            url: http://10.0.0.1:8000
            healthCheck: { path: /health, intervalSeconds: 5 }
          - { name: b, provider: openai-compatible, url: http://10.0.0.2:8000 }
        pools:
          - name: p
            strategy: session
            sessionHeader: x-conversation-id
            members: [ { backend: a, weight: 3 }, { backend: b, priority: 1 } ]
            timeouts: { requestSeconds: 900, tryHeadersSeconds: 60, tryIdleSeconds: 30, connectSeconds: 2 }
            ejection: { consecutive5xx: 2, baseEjectionSeconds: 15, maxEjectionPercent: 50 }
            circuitBreakers: { maxConnections: 10, maxPendingRequests: 20, maxRequests: 30, maxRetries: 4 }
            retries: { maxRetries: 3, maxRetryAfterSeconds: 7 }
        models: [ { name: m, pool: p } ]
        """, "t", null);
    EnvoyResources.Resources r = EnvoyResources.build(tuned);
    Cluster c = r.clusters().get(0);
    assertEquals(Cluster.LbPolicy.RING_HASH, c.getLbPolicy());
    assertEquals(2, Durations.toSeconds(c.getConnectTimeout()));
    var t = c.getCircuitBreakers().getThresholds(0);
    assertEquals(List.of(10, 20, 30, 4), List.of(t.getMaxConnections().getValue(), t.getMaxPendingRequests().getValue(),
        t.getMaxRequests().getValue(), t.getMaxRetries().getValue()));
    assertEquals(2, c.getOutlierDetection().getConsecutive5Xx().getValue());
    assertEquals(3, c.getOutlierDetection().getConsecutiveGatewayFailure().getValue());
    assertEquals(15, Durations.toSeconds(c.getOutlierDetection().getBaseEjectionTime()));
    assertEquals(50, c.getOutlierDetection().getMaxEjectionPercent().getValue());
    assertEquals("/health", c.getHealthChecks(0).getHttpHealthCheck().getPath());
    assertEquals(5, Durations.toSeconds(c.getHealthChecks(0).getInterval()));
    var levels = r.endpoints().get(0).getEndpointsList();
    assertEquals(3, levels.get(0).getLbEndpoints(0).getLoadBalancingWeight().getValue());
    assertFalse(levels.get(0).getLbEndpoints(0).getEndpoint().getHealthCheckConfig().getDisableActiveHealthCheck());
    assertTrue(levels.get(1).getLbEndpoints(0).getEndpoint().getHealthCheckConfig().getDisableActiveHealthCheck(),
        "a backend without a healthCheck is not probed");
    Route route = r.routes().get(0).getVirtualHosts(0).getRoutes(0);
    assertEquals("x-conversation-id", route.getRoute().getHashPolicy(0).getHeader().getHeaderName());
    assertEquals(900, Durations.toSeconds(route.getRoute().getTimeout()));
    RetryPolicy retry = route.getRoute().getRetryPolicy();
    assertEquals(60, Durations.toSeconds(retry.getPerTryTimeout()));
    assertEquals(30, Durations.toSeconds(retry.getPerTryIdleTimeout()));
    assertEquals(3, retry.getNumRetries().getValue());
    assertFalse(retry.hasRateLimitedRetryBackOff());
    GatewayConfig single = tuned.toBuilder().setPools(0, tuned.getPools(0).toBuilder().removeMembers(1)).build();
    RetryPolicy alone = EnvoyResources.build(single).routes().get(0).getVirtualHosts(0).getRoutes(0).getRoute()
        .getRetryPolicy();
    assertEquals("retry-after", alone.getRateLimitedRetryBackOff().getResetHeaders(0).getName());
    assertEquals(RetryPolicy.ResetHeaderFormat.SECONDS, alone.getRateLimitedRetryBackOff().getResetHeaders(0).getFormat());
    assertEquals(7, Durations.toSeconds(alone.getRateLimitedRetryBackOff().getMaxInterval()),
        "a one-member pool retries the same backend: it waits for its Retry-After, up to maxRetryAfterSeconds");
  }

  @Test
  void drainedBackendIsDrainingAndReweightedBackendCarriesTheNewWeight() {
    BackendOverrides o = new BackendOverrides();
    o.drain("aoai-eastus");
    o.setWeight("openai", 9);
    EnvoyResources.Resources r = EnvoyResources.build(config, o);
    var levels = r.clusters().get(0).getLoadAssignment().getEndpointsList();
    assertEquals(io.envoyproxy.envoy.config.core.v3.HealthStatus.DRAINING, levels.get(0).getLbEndpoints(0).getHealthStatus());
    assertEquals(9, levels.get(1).getLbEndpoints(0).getLoadBalancingWeight().getValue());
  }

  @Test
  void ldsListenerIsTheBootstrapsStaticListener() throws Exception {
    var bootstrap = EnvoyYaml.bootstrap(Path.of("..", "envoy", "envoy.yaml"));
    assertEquals(bootstrap.getStaticResources().getListeners(0), resources.listeners().get(0));
    var lds = EnvoyYaml.bootstrap(Path.of("..", "envoy", "envoy-lds.yaml"));
    assertTrue(lds.getDynamicResources().getLdsConfig().hasAds());
    assertEquals(0, lds.getStaticResources().getListenersCount());
  }

  @Test
  void everyResourceSurvivesAStrictRoundTripThroughEnvoyJson() throws Exception {
    for (Cluster c : resources.clusters()) {
      assertEquals(c, EnvoyYaml.parse(EnvoyYaml.print(c), Cluster.newBuilder()).build());
    }
    for (var e : resources.endpoints()) {
      assertEquals(e, EnvoyYaml.parse(EnvoyYaml.print(e),
          io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment.newBuilder()).build());
    }
    var l = resources.listeners().get(0);
    assertEquals(l, EnvoyYaml.parse(EnvoyYaml.print(l), io.envoyproxy.envoy.config.listener.v3.Listener.newBuilder()).build());
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

  @Test
  void failoverExampleHasPtuPayAsYouGoAndSecondRegionAsThreePriorityLevels() throws Exception {
    GatewayConfig failover = new ConfigLoader(name -> "test-key", true).load(Path.of("..", "examples", "failover.yaml"));
    EnvoyResources.Resources r = EnvoyResources.build(failover);
    var levels = r.clusters().get(0).getLoadAssignment().getEndpointsList();
    assertEquals(3, levels.size());
    List<String> order = levels.stream().map(l -> l.getLbEndpoints(0).getMetadata()
        .getFilterMetadataOrThrow(Wire.METADATA_NAMESPACE).getFieldsOrThrow(Wire.BACKEND_KEY).getStringValue()).toList();
    assertEquals(List.of("aoai-eastus-ptu", "aoai-eastus-paygo", "aoai-westeurope"), order);
    assertEquals(List.of(0, 1, 2), levels.stream().map(l -> l.getPriority()).toList());
    RetryPolicy retry = r.routes().get(0).getVirtualHosts(0).getRoutes(0).getRoute().getRetryPolicy();
    assertEquals(2, retry.getNumRetries().getValue(), "enough retries to reach the last level");
    assertEquals("envoy.retry_priorities.previous_priorities", retry.getRetryPriority().getName());
    assertTrue(retry.getRetriableStatusCodesList().containsAll(List.of(429, 503)));
    assertFalse(retry.hasRateLimitedRetryBackOff());
    assertEquals(3, r.clusters().get(0).getOutlierDetection().getConsecutiveGatewayFailure().getValue());
  }

  @Test
  void ldsListenerTrustsTheConfiguredForwardedForHops() throws Exception {
    GatewayConfig behindLb = config.toBuilder().setSecurity(
        dev.weir.config.v1.SecuritySettings.newBuilder().setXffTrustedHops(1)).build();
    var hcm = EnvoyResources.build(behindLb).listeners().get(0).getFilterChains(0).getFilters(0).getTypedConfig()
        .unpack(io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.class);
    assertTrue(hcm.getUseRemoteAddress().getValue());
    assertEquals(1, hcm.getXffNumTrustedHops());
  }
}
