package dev.weir.xds;

import com.google.protobuf.Any;
import com.google.protobuf.Struct;
import com.google.protobuf.UInt32Value;
import com.google.protobuf.Value;
import com.google.protobuf.util.Durations;
import dev.weir.config.Wire;
import dev.weir.config.v1.Backend;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.config.v1.Pool;
import dev.weir.config.v1.PoolMember;
import dev.weir.config.v1.Strategy;
import io.envoyproxy.envoy.config.cluster.v3.CircuitBreakers;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.AggregatedConfigSource;
import io.envoyproxy.envoy.config.core.v3.ApiVersion;
import io.envoyproxy.envoy.config.core.v3.ConfigSource;
import io.envoyproxy.envoy.config.core.v3.HealthCheck;
import io.envoyproxy.envoy.config.core.v3.HealthStatus;
import io.envoyproxy.envoy.config.core.v3.RoutingPriority;
import io.envoyproxy.envoy.config.cluster.v3.OutlierDetection;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.Http1ProtocolOptions;
import io.envoyproxy.envoy.config.core.v3.Metadata;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.core.v3.TransportSocket;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.Endpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.envoyproxy.envoy.config.route.v3.DirectResponseAction;
import io.envoyproxy.envoy.config.route.v3.HeaderMatcher;
import io.envoyproxy.envoy.config.route.v3.RetryPolicy;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.config.core.v3.DataSource;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode;
import io.envoyproxy.envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.envoyproxy.envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate;
import io.envoyproxy.envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CommonTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext;
import io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import java.net.URI;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Turns the gateway config into the Envoy resources that carry it: one cluster per pool (members
 * grouped into priority levels, each endpoint tagged with its backend's name) and the route
 * configuration that sends a request to the cluster named by the pool header. Pure: the same
 * config always yields the same resources.
 */
public final class EnvoyResources {
  /** The HttpProtocolOptions key Envoy looks for in typed_extension_protocol_options. */
  public static final String PROTOCOL_OPTIONS_KEY = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
  /** System CA bundle on Debian/Ubuntu and the official Envoy image. */
  static final String SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";

  private EnvoyResources() {}

  /**
   * Every resource of one config version. {@code endpoints} holds the load assignments of the
   * EDS clusters (pools whose backends are all IP addresses); the others carry theirs inline.
   */
  public record Resources(List<Cluster> clusters, List<ClusterLoadAssignment> endpoints,
      List<RouteConfiguration> routes, List<io.envoyproxy.envoy.config.listener.v3.Listener> listeners) {
    public int endpointCount() {
      int n = 0;
      for (Cluster c : clusters) {
        for (LocalityLbEndpoints l : c.getLoadAssignment().getEndpointsList()) {
          n += l.getLbEndpointsCount();
        }
      }
      for (ClusterLoadAssignment cla : endpoints) {
        for (LocalityLbEndpoints l : cla.getEndpointsList()) {
          n += l.getLbEndpointsCount();
        }
      }
      return n;
    }
  }

  public static Resources build(GatewayConfig config) {
    return build(config, new BackendOverrides());
  }

  public static Resources build(GatewayConfig config, BackendOverrides overrides) {
    Map<String, Backend> backends = new HashMap<>();
    config.getBackendsList().forEach(b -> backends.put(b.getName(), b));
    List<Cluster> clusters = new ArrayList<>();
    List<ClusterLoadAssignment> endpoints = new ArrayList<>();
    for (Pool pool : config.getPoolsList()) {
      ClusterLoadAssignment cla = loadAssignment(pool, backends, overrides);
      Cluster cluster = cluster(pool, backends, cla);
      clusters.add(cluster);
      if (cluster.getType() == Cluster.DiscoveryType.EDS) {
        endpoints.add(cla);
      }
    }
    // A REST API behind MCP is called by ext-proc-server itself: it gets no cluster or route.
    config.getMcpServersList().stream().filter(s -> !s.hasRest()).forEach(s -> clusters.add(McpResources.cluster(s)));
    return new Resources(clusters, endpoints, List.of(routes(config)),
        List.of(Listeners.listener(config.getControlPlane().getListenerPort(),
            config.getSecurity().getXffTrustedHops())));
  }

  /** The ext_proc filter every pool cluster runs upstream, after Envoy chose the host. */
  public static ExternalProcessor upstreamExtProc() {
    return upstreamExtProc(false);
  }

  /**
   * The upstream filter of one pool. With a breaker the filter also sends each attempt's response
   * headers: the upstream filter chain encodes them before the router decides on a retry
   * (upstream_request.cc UpstreamRequest::decodeHeaders → filter manager → Filter::onUpstreamHeaders),
   * so the pass sees every attempt's status, retried ones included, and which backend sent it.
   */
  public static ExternalProcessor upstreamExtProc(boolean responseHeaders) {
    return ExternalProcessor.newBuilder()
        .setGrpcService(Listeners.extProcService(Wire.UPSTREAM_PASS))
        .setProcessingMode(ProcessingMode.newBuilder()
            .setRequestHeaderMode(ProcessingMode.HeaderSendMode.SEND)
            // The server skips the body (mode_override) unless this attempt must rewrite the model.
            .setRequestBodyMode(ProcessingMode.BodySendMode.BUFFERED)
            .setResponseHeaderMode(responseHeaders ? ProcessingMode.HeaderSendMode.SEND
                : ProcessingMode.HeaderSendMode.SKIP)
            .setResponseBodyMode(ProcessingMode.BodySendMode.NONE))
        .addRequestAttributes(Wire.BACKEND_ATTRIBUTE)
        .setAllowModeOverride(true)
        .setMessageTimeout(Durations.fromSeconds(10))
        .setFailureModeAllow(false)
        .build();
  }

  static ClusterLoadAssignment loadAssignment(Pool pool, Map<String, Backend> backends,
      BackendOverrides overrides) {
    // Members at the same priority form one level; Envoy sends traffic to the lowest healthy level.
    TreeMap<Integer, LocalityLbEndpoints.Builder> levels = new TreeMap<>();
    boolean poolChecksHealth = pool.getMembersList().stream()
        .anyMatch(m -> backends.get(m.getBackend()).hasHealthCheck());
    for (PoolMember m : pool.getMembersList()) {
      Backend backend = backends.get(m.getBackend());
      URI url = URI.create(backend.getUrl());
      boolean tls = "https".equals(url.getScheme());
      int port = url.getPort() > 0 ? url.getPort() : tls ? 443 : 80;
      Endpoint.Builder endpoint = Endpoint.newBuilder()
          .setAddress(Address.newBuilder().setSocketAddress(
              SocketAddress.newBuilder().setAddress(url.getHost()).setPortValue(port)))
          .setHostname(url.getHost());
      if (poolChecksHealth && !backend.hasHealthCheck()) {
        endpoint.setHealthCheckConfig(Endpoint.HealthCheckConfig.newBuilder().setDisableActiveHealthCheck(true));
      }
      LbEndpoint.Builder lb = LbEndpoint.newBuilder()
          .setEndpoint(endpoint)
          .setLoadBalancingWeight(UInt32Value.of(Math.max(1, overrides.weight(pool.getName(), backend.getName(),
              m.getWeight()))))
          .setMetadata(Metadata.newBuilder()
              .putFilterMetadata(Wire.METADATA_NAMESPACE, Struct.newBuilder()
                  .putFields(Wire.BACKEND_KEY, Value.newBuilder().setStringValue(backend.getName()).build())
                  .build())
              .putFilterMetadata("envoy.transport_socket_match", Struct.newBuilder()
                  .putFields("tls", Value.newBuilder().setStringValue(Boolean.toString(tls)).build())
                  .build()));
      if (overrides.drained(backend.getName())) {
        // DRAINING hosts take no new requests; in-flight ones finish.
        lb.setHealthStatus(HealthStatus.DRAINING);
      } else if (overrides.tripped(pool.getName(), backend.getName())) {
        // Tripped by the breaker: UNHEALTHY keeps the host in its level (it still counts for the
        // overprovisioning and panic arithmetic), so the level's load spills to the next one
        // exactly as for a failed health check (load_balancer_impl.cc recalculatePerPriorityState).
        lb.setHealthStatus(HealthStatus.UNHEALTHY);
      }
      levels.computeIfAbsent(m.getPriority(), p -> LocalityLbEndpoints.newBuilder().setPriority(p))
          .addLbEndpoints(lb);
    }
    ClusterLoadAssignment.Builder cla = ClusterLoadAssignment.newBuilder()
        .setClusterName(Wire.poolCluster(pool.getName()));
    // Envoy requires priorities to be contiguous from 0: renumber the configured levels in order.
    int next = 0;
    for (LocalityLbEndpoints.Builder level : levels.values()) {
      cla.addEndpoints(level.setPriority(next++));
    }
    return cla.build();
  }

  static Cluster cluster(Pool pool, Map<String, Backend> backends, ClusterLoadAssignment cla) {
    boolean anyTls = false;
    boolean allIpLiterals = true;
    HealthCheck healthCheck = null;
    for (PoolMember m : pool.getMembersList()) {
      Backend backend = backends.get(m.getBackend());
      URI url = URI.create(backend.getUrl());
      anyTls |= "https".equals(url.getScheme());
      allIpLiterals &= isIpLiteral(url.getHost());
      if (backend.hasHealthCheck() && healthCheck == null) {
        healthCheck = healthCheck(backend.getHealthCheck());
      }
    }
    HttpProtocolOptions.Builder protocol = HttpProtocolOptions.newBuilder()
        .setExplicitHttpConfig(HttpProtocolOptions.ExplicitHttpConfig.newBuilder()
            .setHttpProtocolOptions(Http1ProtocolOptions.getDefaultInstance()))
        .addHttpFilters(HttpFilter.newBuilder().setName("envoy.filters.http.ext_proc")
            .setTypedConfig(Any.pack(upstreamExtProc(pool.hasBreaker()))))
        .addHttpFilters(HttpFilter.newBuilder().setName("envoy.filters.http.upstream_codec")
            .setTypedConfig(Any.pack(UpstreamCodec.getDefaultInstance())));
    var ejection = pool.getEjection();
    var limits = pool.getCircuitBreakers();
    CircuitBreakers.Thresholds.Builder thresholds = CircuitBreakers.Thresholds.newBuilder()
        .setMaxConnections(UInt32Value.of(limits.getMaxConnections()))
        .setMaxPendingRequests(UInt32Value.of(limits.getMaxPendingRequests()))
        .setMaxRequests(UInt32Value.of(limits.getMaxRequests()))
        .setMaxRetries(UInt32Value.of(limits.getMaxRetries()));
    Cluster.Builder cluster = Cluster.newBuilder()
        .setName(cla.getClusterName())
        .setConnectTimeout(Durations.fromSeconds(pool.getTimeouts().getConnectSeconds()))
        // Non-streamed answers are buffered for the router pass; allow large completions.
        .setPerConnectionBufferLimitBytes(UInt32Value.of(8 * 1024 * 1024))
        .setLbPolicy(lbPolicy(pool.getStrategy()))
        .setCircuitBreakers(CircuitBreakers.newBuilder()
            .addThresholds(thresholds.clone().setPriority(RoutingPriority.DEFAULT))
            .addThresholds(thresholds.clone().setPriority(RoutingPriority.HIGH)))
        .setOutlierDetection(OutlierDetection.newBuilder()
            .setConsecutive5Xx(UInt32Value.of(ejection.getConsecutive5Xx()))
            .setConsecutiveGatewayFailure(UInt32Value.of(ejection.getConsecutiveGatewayFailures()))
            .setEnforcingConsecutiveGatewayFailure(UInt32Value.of(100))
            .setInterval(Durations.fromSeconds(ejection.getIntervalSeconds()))
            .setBaseEjectionTime(Durations.fromSeconds(ejection.getBaseEjectionSeconds()))
            .setMaxEjectionPercent(UInt32Value.of(ejection.getMaxEjectionPercent())));
    if (allIpLiterals) {
      // IP endpoints can come over EDS: drain and re-weight then update endpoints only.
      cluster.setType(Cluster.DiscoveryType.EDS)
          .setEdsClusterConfig(Cluster.EdsClusterConfig.newBuilder().setEdsConfig(ConfigSource.newBuilder()
              .setResourceApiVersion(ApiVersion.V3).setAds(AggregatedConfigSource.getDefaultInstance())));
    } else {
      // EDS carries only IP addresses; STRICT_DNS resolves (and re-resolves) backend host names.
      cluster.setType(Cluster.DiscoveryType.STRICT_DNS)
          .setDnsLookupFamily(Cluster.DnsLookupFamily.V4_PREFERRED)
          .setLoadAssignment(cla);
    }
    if (healthCheck != null) {
      cluster.addHealthChecks(healthCheck);
    }
    if (anyTls) {
      UpstreamTlsContext tls = UpstreamTlsContext.newBuilder()
          .setCommonTlsContext(CommonTlsContext.newBuilder()
              .setValidationContext(CertificateValidationContext.newBuilder()
                  .setTrustedCa(DataSource.newBuilder().setFilename(SYSTEM_CA_BUNDLE))))
          .build();
      cluster.addTransportSocketMatches(Cluster.TransportSocketMatch.newBuilder()
          .setName("tls")
          .setMatch(Struct.newBuilder().putFields("tls", Value.newBuilder().setStringValue("true").build()))
          .setTransportSocket(TransportSocket.newBuilder().setName("envoy.transport_sockets.tls")
              .setTypedConfig(Any.pack(tls))));
      // SNI and certificate SAN check per endpoint hostname: one cluster may hold several hosts.
      protocol.setUpstreamHttpProtocolOptions(io.envoyproxy.envoy.config.core.v3.UpstreamHttpProtocolOptions.newBuilder()
          .setAutoSni(true).setAutoSanValidation(true));
    }
    cluster.putTypedExtensionProtocolOptions(PROTOCOL_OPTIONS_KEY, Any.pack(protocol.build()));
    return cluster.build();
  }

  private static HealthCheck healthCheck(dev.weir.config.v1.HealthCheck h) {
    return HealthCheck.newBuilder()
        .setTimeout(Durations.fromSeconds(h.getTimeoutSeconds()))
        .setInterval(Durations.fromSeconds(h.getIntervalSeconds()))
        .setUnhealthyThreshold(UInt32Value.of(h.getUnhealthyThreshold()))
        .setHealthyThreshold(UInt32Value.of(h.getHealthyThreshold()))
        .setHttpHealthCheck(HealthCheck.HttpHealthCheck.newBuilder().setPath(h.getPath()))
        .build();
  }

  static boolean isIpLiteral(String host) {
    return host.matches("\\d{1,3}(\\.\\d{1,3}){3}") || host.startsWith("[") || host.contains(":");
  }

  private static Cluster.LbPolicy lbPolicy(Strategy strategy) {
    return switch (strategy) {
      case LEAST_REQUEST -> Cluster.LbPolicy.LEAST_REQUEST;
      case SESSION -> Cluster.LbPolicy.RING_HASH;
      default -> Cluster.LbPolicy.ROUND_ROBIN;
    };
  }

  static RouteConfiguration routes(GatewayConfig config) {
    // The attempt count in the response lets the router pass tell a failed-over exchange from a
    // first-try one (usage events); Envoy adds it to upstream answers and its own local replies.
    VirtualHost.Builder vh = VirtualHost.newBuilder().setName("weir").addDomains("*")
        .setIncludeAttemptCountInResponse(true);
    for (Pool pool : config.getPoolsList()) {
      RouteAction.Builder action = RouteAction.newBuilder()
          .setCluster(Wire.poolCluster(pool.getName()))
          .setAutoHostRewrite(com.google.protobuf.BoolValue.of(true))
          // LLM answers stream for minutes: the overall timeout is long, and the per-try
          // timeouts (in the retry policy) catch a backend that goes silent.
          .setTimeout(Durations.fromSeconds(pool.getTimeouts().getRequestSeconds()))
          .setRetryPolicy(retryPolicy(pool));
      if (pool.getStrategy() == Strategy.SESSION) {
        action.addHashPolicy(RouteAction.HashPolicy.newBuilder()
            .setHeader(RouteAction.HashPolicy.Header.newBuilder().setHeaderName(pool.getSessionHeader())));
      }
      vh.addRoutes(Route.newBuilder()
          .setName("pool-" + pool.getName())
          .setMatch(RouteMatch.newBuilder().setPrefix("/")
              .addHeaders(HeaderMatcher.newBuilder().setName(Wire.POOL_HEADER)
                  .setStringMatch(StringMatcher.newBuilder().setExact(pool.getName()))))
          .setRoute(action));
    }
    config.getMcpServersList().stream().filter(s -> !s.hasRest()).forEach(s -> vh.addRoutes(McpResources.route(s)));
    // Only reached if the router pass did not route (it answers every request it refuses itself).
    vh.addRoutes(Route.newBuilder()
        .setName("unrouted")
        .setMatch(RouteMatch.newBuilder().setPrefix("/"))
        .setDirectResponse(DirectResponseAction.newBuilder().setStatus(404)
            .setBody(DataSource.newBuilder().setInlineString(
                "{\"error\":{\"message\":\"No pool was selected for this request.\","
                    + "\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"unrouted\"}}"))));
    return RouteConfiguration.newBuilder().setName(Wire.ROUTE_CONFIG_NAME).addVirtualHosts(vh).build();
  }

  /**
   * The pool's retry policy. previous_hosts and previous_priorities send a retry to another
   * member whenever one is left, so a throttled backend's Retry-After says nothing about when the
   * retry may go: rate_limited_retry_back_off, which delays the retry by that header whatever
   * host it goes to (route_components.proto RetryPolicy.RateLimitedRetryBackOff;
   * retry_state_impl.cc RetryStateImpl::shouldRetryHeaders), is set only for pools of one member,
   * where the retry returns to the same backend. Other pools retry after Envoy's default
   * jittered back-off (25 ms base).
   */
  static RetryPolicy retryPolicy(Pool pool) {
    RetryPolicy.Builder policy = RetryPolicy.newBuilder()
        .setRetryOn("connect-failure,reset,retriable-status-codes")
        .addAllRetriableStatusCodes(List.of(429, 500, 502, 503, 504, 529))
        .setNumRetries(UInt32Value.of(pool.getRetries().getMaxRetries()))
        // Until the backend starts answering; stops counting once a response streams.
        .setPerTryTimeout(Durations.fromSeconds(pool.getTimeouts().getTryHeadersSeconds()))
        // No bytes moving for this long, before or during a stream, abandons the attempt.
        .setPerTryIdleTimeout(Durations.fromSeconds(pool.getTimeouts().getTryIdleSeconds()))
        .addRetryHostPredicate(RetryPolicy.RetryHostPredicate.newBuilder()
            .setName("envoy.retry_host_predicates.previous_hosts")
            .setTypedConfig(Any.pack(PreviousHostsPredicate.getDefaultInstance())))
        .setHostSelectionRetryMaxAttempts(5)
        .setRetryPriority(RetryPolicy.RetryPriority.newBuilder()
            .setName("envoy.retry_priorities.previous_priorities")
            .setTypedConfig(Any.pack(PreviousPrioritiesConfig.newBuilder().setUpdateFrequency(1).build())));
    if (pool.getMembersCount() == 1) {
      policy.setRateLimitedRetryBackOff(RetryPolicy.RateLimitedRetryBackOff.newBuilder()
          .addResetHeaders(RetryPolicy.ResetHeader.newBuilder().setName("retry-after")
              .setFormat(RetryPolicy.ResetHeaderFormat.SECONDS))
          .setMaxInterval(Durations.fromSeconds(pool.getRetries().getMaxRetryAfterSeconds())));
    }
    return policy.build();
  }
}
