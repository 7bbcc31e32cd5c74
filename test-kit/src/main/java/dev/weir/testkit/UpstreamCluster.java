package dev.weir.testkit;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import com.google.protobuf.util.Durations;
import io.envoyproxy.envoy.config.cluster.v3.CircuitBreakers;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.HealthStatus;
import io.envoyproxy.envoy.config.core.v3.RoutingPriority;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One cluster's run-time state: its host set (from the inline or EDS load assignment), health
 * (EDS status, outlier ejection, hosts a test marks down), the load balancer, active request counts
 * and the DEFAULT-priority circuit breakers.
 */
final class UpstreamCluster {
  /** What the router asks of the load balancer for one attempt (Envoy's LoadBalancerContext). */
  record Context(String hashKey, Set<String> excludedHosts, Set<Integer> excludedPriorities, int selectionPicks) {}

  private final Cluster cluster;
  private volatile ClusterLoadAssignment cla;
  private final Set<String> markedDown;
  private final EnvoyStats stats;
  private final OutlierDetector outlier;
  private final Map<String, AtomicLong> roundRobin = new ConcurrentHashMap<>();
  private final Map<String, AtomicInteger> active = new ConcurrentHashMap<>();
  private final AtomicInteger activeRequests = new AtomicInteger();
  private final AtomicInteger activeRetries = new AtomicInteger();

  UpstreamCluster(Cluster cluster, ClusterLoadAssignment cla, Set<String> markedDown, EnvoyStats stats) {
    this.cluster = cluster;
    this.cla = cla;
    this.markedDown = markedDown;
    this.stats = stats;
    this.outlier = new OutlierDetector(cluster.hasOutlierDetection(), cluster.getOutlierDetection());
  }

  String name() {
    return cluster.getName();
  }

  /** The name its EDS load assignment goes by (eds_cluster_config.service_name, else the cluster's). */
  String edsName() {
    String service = cluster.getEdsClusterConfig().getServiceName();
    return service.isEmpty() ? cluster.getName() : service;
  }

  /**
   * Takes an EDS update. Envoy keeps a host that is still in the assignment (same address) with
   * its outlier and request state, and takes its new health status and weight
   * (upstream_impl.cc BaseDynamicClusterImpl::updateDynamicHostList); state here is keyed by
   * address, so it carries over the same way.
   */
  void assign(ClusterLoadAssignment update) {
    this.cla = update;
  }

  Cluster config() {
    return cluster;
  }

  OutlierDetector outlier() {
    return outlier;
  }

  /** The cluster's connect_timeout; the proto's default is 5 s (cluster.proto). */
  Duration connectTimeout() {
    return cluster.hasConnectTimeout() ? Duration.ofMillis(Durations.toMillis(cluster.getConnectTimeout()))
        : Duration.ofSeconds(5);
  }

  /**
   * Every host in the set. DRAINING endpoints are excluded from load balancing (Envoy's
   * EDS_STATUS_DRAINING flag); UNHEALTHY/TIMEOUT ones stay, unhealthy, and count towards panic.
   */
  List<UpstreamHost> hosts() {
    List<UpstreamHost> out = new ArrayList<>();
    if (cla == null) {
      return out;
    }
    boolean tls = cluster.hasTransportSocket() || cluster.getTransportSocketMatchesCount() > 0;
    for (LocalityLbEndpoints locality : cla.getEndpointsList()) {
      for (LbEndpoint e : locality.getLbEndpointsList()) {
        if (e.getHealthStatus() == HealthStatus.DRAINING) {
          continue;
        }
        var addr = e.getEndpoint().getAddress().getSocketAddress();
        int weight = e.hasLoadBalancingWeight() ? e.getLoadBalancingWeight().getValue() : 1;
        boolean hostTls = tls && !e.getMetadata().getFilterMetadataOrDefault("envoy.transport_socket_match",
            Struct.getDefaultInstance()).getFieldsOrDefault("tls", Value.newBuilder().setStringValue("true").build())
            .getStringValue().equals("false");
        out.add(new UpstreamHost(addr.getAddress(), addr.getPortValue(), locality.getPriority(), weight,
            e.getMetadata(), e.getEndpoint().getHostname(), hostTls, e.getHealthStatus()));
      }
    }
    return out;
  }

  boolean healthy(UpstreamHost h) {
    return h.edsHealthy() && !markedDown.contains(h.key()) && !outlier.ejected(h.key());
  }

  /**
   * Picks a host: priority level by {@link PriorityLoad}, then the cluster's lb_policy among the
   * level's healthy hosts (all its hosts when the level is in panic). With a retry host predicate,
   * Envoy picks up to host_selection_retry_max_attempts + 1 times and then keeps the last pick
   * (router.cc Filter::hostSelectionRetryCount; load_balancer_impl.cc chooseHost loops).
   */
  UpstreamHost choose(Context ctx) {
    List<UpstreamHost> all = hosts();
    if (all.isEmpty()) {
      return null;
    }
    int levels = all.stream().mapToInt(UpstreamHost::priority).max().orElse(0) + 1;
    List<PriorityLoad.Level> perLevel = new ArrayList<>();
    for (int p = 0; p < levels; p++) {
      int level = p;
      List<UpstreamHost> in = all.stream().filter(h -> h.priority() == level).toList();
      perLevel.add(new PriorityLoad.Level(in.size(), (int) in.stream().filter(this::healthy).count()));
    }
    PriorityLoad load = PriorityLoad.compute(perLevel, ctx.excludedPriorities());
    UpstreamHost chosen = null;
    for (int pick = 0; pick < Math.max(1, ctx.selectionPicks()); pick++) {
      int priority = load.choose(ThreadLocalRandom.current().nextInt(100));
      boolean panic = load.panic()[priority];
      if (panic) {
        stats.lbPanics.incrementAndGet();
      }
      List<UpstreamHost> candidates = all.stream()
          .filter(h -> h.priority() == priority && (panic || healthy(h))).toList();
      if (candidates.isEmpty()) {
        continue;
      }
      chosen = pickInLevel(candidates, priority, ctx.hashKey(), pick);
      if (!ctx.excludedHosts().contains(chosen.key())) {
        return chosen;
      }
    }
    return chosen;
  }

  private UpstreamHost pickInLevel(List<UpstreamHost> hosts, int priority, String hashKey, int attempt) {
    ThreadLocalRandom random = ThreadLocalRandom.current();
    return switch (cluster.getLbPolicy()) {
      case RING_HASH, MAGLEV -> HashRing.of(hosts).choose(hashKey == null ? random.nextLong() : HashRing.hash(hashKey),
          attempt);
      case RANDOM -> hosts.get(random.nextInt(hosts.size()));
      case LEAST_REQUEST -> leastRequest(hosts, random);
      default -> roundRobin(hosts, priority);
    };
  }

  /**
   * Weighted round robin. Envoy uses an EDF schedule and starts at a random offset
   * (load_balancer_impl.cc RoundRobinLoadBalancer); this walks the weight-expanded list from 0, so
   * shares match and only the order differs.
   */
  private UpstreamHost roundRobin(List<UpstreamHost> hosts, int priority) {
    List<UpstreamHost> weighted = new ArrayList<>();
    for (UpstreamHost h : hosts) {
      for (int i = 0; i < Math.max(1, h.weight()); i++) {
        weighted.add(h);
      }
    }
    long n = roundRobin.computeIfAbsent(priority + "/" + hosts, k -> new AtomicLong()).getAndIncrement();
    return weighted.get((int) (n % weighted.size()));
  }

  /**
   * LeastRequestLoadBalancer with equal weights: power of two choices, default choice_count 2 —
   * the fewer active requests of two random hosts (load_balancer_impl.cc unweightedHostPick).
   */
  private UpstreamHost leastRequest(List<UpstreamHost> hosts, ThreadLocalRandom random) {
    int choices = cluster.getLeastRequestLbConfig().hasChoiceCount()
        ? cluster.getLeastRequestLbConfig().getChoiceCount().getValue() : 2;
    UpstreamHost best = null;
    for (int i = 0; i < choices; i++) {
      UpstreamHost h = hosts.get(random.nextInt(hosts.size()));
      if (best == null || activeOn(h) < activeOn(best)) {
        best = h;
      }
    }
    return best;
  }

  int activeOn(UpstreamHost h) {
    return active.computeIfAbsent(h.key(), k -> new AtomicInteger()).get();
  }

  private CircuitBreakers.Thresholds thresholds() {
    return cluster.getCircuitBreakers().getThresholdsList().stream()
        .filter(t -> t.getPriority() == RoutingPriority.DEFAULT).findFirst()
        .orElse(CircuitBreakers.Thresholds.getDefaultInstance());
  }

  /**
   * Admits one upstream request or reports overflow. Envoy's HTTP/1 pool refuses a stream when
   * max_requests is reached, and queues beyond max_connections up to max_pending_requests
   * (conn_pool_base.cc ConnPoolImplBase::newStreamImpl; defaults 1024 each in
   * circuit_breaker.proto). Requests over max_connections are not held back here: the count of
   * connections plus pending requests is the bound.
   */
  boolean tryStartRequest(UpstreamHost host) {
    CircuitBreakers.Thresholds t = thresholds();
    int maxRequests = t.hasMaxRequests() ? t.getMaxRequests().getValue() : 1024;
    int maxConnections = t.hasMaxConnections() ? t.getMaxConnections().getValue() : 1024;
    int maxPending = t.hasMaxPendingRequests() ? t.getMaxPendingRequests().getValue() : 1024;
    synchronized (activeRequests) {
      int now = activeRequests.get();
      if (now >= maxRequests || now >= (long) maxConnections + maxPending) {
        stats.upstreamOverflows.incrementAndGet();
        return false;
      }
      activeRequests.incrementAndGet();
    }
    active.computeIfAbsent(host.key(), k -> new AtomicInteger()).incrementAndGet();
    return true;
  }

  void endRequest(UpstreamHost host) {
    activeRequests.decrementAndGet();
    active.get(host.key()).decrementAndGet();
  }

  /** The max_retries breaker (default 3): RetryStateImpl::shouldRetry returns NoOverflow past it. */
  boolean tryStartRetry() {
    CircuitBreakers.Thresholds t = thresholds();
    int max = t.hasMaxRetries() ? t.getMaxRetries().getValue() : 3;
    synchronized (activeRetries) {
      if (activeRetries.get() >= max) {
        stats.retryOverflows.incrementAndGet();
        return false;
      }
      activeRetries.incrementAndGet();
      return true;
    }
  }

  void endRetry() {
    activeRetries.decrementAndGet();
  }

  /** Reports an attempt's result to outlier detection (router.cc updateOutlierDetection). */
  void report(UpstreamHost host, int code) {
    outlier.putHttpResponseCode(host.key(), code, hosts().size(), stats);
  }
}
