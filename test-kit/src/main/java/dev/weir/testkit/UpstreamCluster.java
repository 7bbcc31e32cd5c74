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
  /**
   * What the router asks of the load balancer for one attempt (Envoy's LoadBalancerContext): the
   * hash policy's key (null for none), hosts a retry host predicate rejects, the retry priority
   * plugin (null for none) and how many picks to make (hostSelectionRetryCount() + 1).
   */
  record Context(Long hashKey, Set<String> excludedHosts, PreviousPriorities retryPriority, int selectionPicks) {}

  private final Cluster cluster;
  private volatile ClusterLoadAssignment cla;
  private final Set<String> markedDown;
  private final EnvoyStats stats;
  private final OutlierDetector outlier;
  private final long seed = ThreadLocalRandom.current().nextLong(); // EdfLoadBalancerBase seed_(random_.random())
  private final Map<String, AtomicLong> rrIndexes = new ConcurrentHashMap<>();
  private final Map<String, Schedule> schedules = new ConcurrentHashMap<>();
  private final Map<String, RingOf> rings = new ConcurrentHashMap<>();
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

  /** How the balancer sees a host (Host::coarseHealth): any failed check first, then EDS DEGRADED. */
  enum Health { HEALTHY, DEGRADED, UNHEALTHY }

  Health health(UpstreamHost h) {
    if (!healthy(h)) {
      return Health.UNHEALTHY;
    }
    return h.edsHealth() == HealthStatus.DEGRADED ? Health.DEGRADED : Health.HEALTHY;
  }

  /**
   * The cluster's priority settings: the load assignment's overprovisioning_factor (default 140)
   * and weighted_priority_health (endpoint.proto ClusterLoadAssignment.Policy), and
   * common_lb_config.healthy_panic_threshold (default 50 %, rounded like
   * PROTOBUF_PERCENT_TO_ROUNDED_INTEGER_OR_DEFAULT).
   */
  PriorityLoad.Settings prioritySettings() {
    var policy = cla == null ? ClusterLoadAssignment.Policy.getDefaultInstance() : cla.getPolicy();
    int factor = policy.hasOverprovisioningFactor() ? policy.getOverprovisioningFactor().getValue()
        : PriorityLoad.DEFAULT_OVERPROVISIONING_FACTOR;
    int threshold = cluster.getCommonLbConfig().hasHealthyPanicThreshold()
        ? (int) Math.round(cluster.getCommonLbConfig().getHealthyPanicThreshold().getValue())
        : PriorityLoad.DEFAULT_HEALTHY_PANIC_THRESHOLD;
    return new PriorityLoad.Settings(factor, threshold, policy.getWeightedPriorityHealth());
  }

  /** The balancer's own priority load over the current host set. */
  PriorityLoad priorityLoad() {
    return priorityLoad(levels(hosts()));
  }

  private List<List<UpstreamHost>> levels(List<UpstreamHost> all) {
    int count = all.stream().mapToInt(UpstreamHost::priority).max().orElse(0) + 1;
    List<List<UpstreamHost>> levels = new ArrayList<>();
    for (int p = 0; p < count; p++) {
      int level = p;
      levels.add(all.stream().filter(h -> h.priority() == level).toList());
    }
    return levels;
  }

  private PriorityLoad priorityLoad(List<List<UpstreamHost>> levels) {
    List<PriorityLoad.Level> perLevel = new ArrayList<>();
    for (List<UpstreamHost> in : levels) {
      int healthy = 0;
      int degraded = 0;
      long healthyWeight = 0;
      long degradedWeight = 0;
      long totalWeight = 0;
      for (UpstreamHost h : in) {
        totalWeight += h.weight();
        switch (health(h)) {
          case HEALTHY -> {
            healthy++;
            healthyWeight += h.weight();
          }
          case DEGRADED -> {
            degraded++;
            degradedWeight += h.weight();
          }
          default -> { }
        }
      }
      perLevel.add(new PriorityLoad.Level(in.size(), healthy, degraded, totalWeight, healthyWeight, degradedWeight));
    }
    return PriorityLoad.compute(perLevel, prioritySettings());
  }

  /**
   * Picks a host for one attempt, as Envoy's balancers do. Up to {@code selectionPicks} picks are
   * made while a pick lands on an excluded host, then the last pick is kept (chooseHost loops in
   * load_balancer_impl.cc ZoneAwareLoadBalancerBase::chooseHost and thread_aware_lb_impl.cc
   * LoadBalancerImpl::chooseHost); a pick that finds no host ends the search (null: no healthy
   * upstream).
   */
  UpstreamHost choose(Context ctx) {
    List<UpstreamHost> all = hosts();
    if (all.isEmpty()) {
      return null;
    }
    List<List<UpstreamHost>> levels = levels(all);
    PriorityLoad load = priorityLoad(levels);
    return switch (cluster.getLbPolicy()) {
      case RING_HASH, MAGLEV -> chooseByHash(ctx, levels, load);
      default -> chooseByScheduler(ctx, levels, load);
    };
  }

  /**
   * Round robin, least request and random (EdfLoadBalancerBase::chooseHostOnce, RandomLoadBalancer):
   * every pick draws a random number, asks the retry priority plugin for the load, chooses the
   * level with it (hostSourceToUse: all hosts of a level in panic, else its healthy or degraded
   * hosts as choosePriority says) and then a host of that list.
   */
  private UpstreamHost chooseByScheduler(Context ctx, List<List<UpstreamHost>> levels, PriorityLoad load) {
    UpstreamHost host = null;
    for (int pick = 0; pick < Math.max(1, ctx.selectionPicks()); pick++) {
      long random = ThreadLocalRandom.current().nextLong();
      PriorityLoad use = ctx.retryPriority() == null ? load : ctx.retryPriority().determine(load);
      PriorityLoad.Choice choice = use.choose(random);
      int priority = choice.priority();
      Source source;
      List<UpstreamHost> candidates;
      if (load.panic()[priority]) {
        stats.lbPanics.incrementAndGet();
        source = Source.ALL;
        candidates = levels.get(priority);
      } else {
        source = choice.degraded() ? Source.DEGRADED : Source.HEALTHY;
        Health wanted = choice.degraded() ? Health.DEGRADED : Health.HEALTHY;
        candidates = levels.get(priority).stream().filter(h -> health(h) == wanted).toList();
      }
      if (candidates.isEmpty()) {
        return null;
      }
      String key = priority + "/" + source;
      host = switch (cluster.getLbPolicy()) {
        case RANDOM -> candidates.get((int) Long.remainderUnsigned(random, candidates.size()));
        case LEAST_REQUEST -> leastRequest(candidates, key);
        default -> roundRobin(candidates, key);
      };
      if (!ctx.excludedHosts().contains(host.key())) {
        return host;
      }
    }
    return host;
  }

  /**
   * Ring hash and Maglev (thread_aware_lb_impl.cc LoadBalancerImpl::chooseHost): the request's hash (a random
   * one without a hash policy result) chooses the level from the balancer's own load, so the retry
   * priority plugin has no say, and every selection attempt walks the same level's ring, built over
   * its healthy hosts, or all of them in panic (normalizeWeights; degraded hosts are not on it).
   * Maglev works the same way over a {@link MaglevTable}.
   */
  private UpstreamHost chooseByHash(Context ctx, List<List<UpstreamHost>> levels, PriorityLoad load) {
    long h = ctx.hashKey() != null ? ctx.hashKey() : ThreadLocalRandom.current().nextLong();
    int priority = load.choose(h).priority();
    boolean panic = load.panic()[priority];
    if (panic) {
      stats.lbPanics.incrementAndGet();
    }
    List<UpstreamHost> onRing = panic ? levels.get(priority)
        : levels.get(priority).stream().filter(x -> health(x) == Health.HEALTHY).toList();
    RingOf ring = rings.compute(priority + "/" + panic, (k, old) -> old != null && old.hosts().equals(onRing) ? old
        : cluster.getLbPolicy() == Cluster.LbPolicy.MAGLEV ? new RingOf(onRing, null, MaglevTable.of(onRing, cluster))
        : new RingOf(onRing, HashRing.of(onRing, cluster), null));
    UpstreamHost host = null;
    for (int attempt = 0; attempt < Math.max(1, ctx.selectionPicks()); attempt++) {
      host = ring.ring() != null ? ring.ring().choose(h, attempt) : ring.maglev().choose(h, attempt);
      if (host == null || !ctx.excludedHosts().contains(host.key())) {
        return host;
      }
    }
    return host;
  }

  private record RingOf(List<UpstreamHost> hosts, HashRing ring, MaglevTable maglev) {}

  /** HostsSource::SourceType: which of a level's host lists a scheduler serves. */
  private enum Source { ALL, HEALTHY, DEGRADED }

  private static boolean equalWeights(List<UpstreamHost> hosts) {
    return hosts.stream().mapToInt(UpstreamHost::weight).distinct().count() <= 1;
  }

  /**
   * RoundRobinLoadBalancer. With equal weights, unweightedHostPick walks the list from an index
   * that starts at the balancer's random seed and is kept per host source across host set changes
   * (refreshHostSource inserts, never overwrites); with unequal weights an EDF schedule over the
   * hosts' weights, rebuilt when the host set changes and started with the seed's picks
   * (EdfLoadBalancerBase::refresh, createWithPicks).
   */
  private UpstreamHost roundRobin(List<UpstreamHost> hosts, String source) {
    if (equalWeights(hosts)) {
      long n = rrIndexes.computeIfAbsent(source, k -> new AtomicLong(seed)).getAndIncrement();
      return hosts.get((int) Long.remainderUnsigned(n, hosts.size()));
    }
    return edf(hosts, source, h -> h.weight());
  }

  /**
   * LeastRequestLoadBalancer. With equal weights, unweightedHostPick: the fewest active requests
   * among choice_count (default 2) random draws with replacement (enable_full_scan exists only in
   * the typed least_request policy, which the test-kit does not read). With unequal weights, the EDF schedule with hostWeight = weight /
   * (active requests + 1)^active_request_bias (default 1.0), evaluated when a host is re-added.
   */
  private UpstreamHost leastRequest(List<UpstreamHost> hosts, String source) {
    var config = cluster.getLeastRequestLbConfig();
    if (!equalWeights(hosts)) {
      double bias = config.hasActiveRequestBias() ? config.getActiveRequestBias().getDefaultValue() : 1.0;
      return edf(hosts, source, h -> {
        double active = activeOn(h) + 1;
        return bias == 1.0 ? h.weight() / active : bias == 0.0 ? h.weight() : h.weight() / Math.pow(active, bias);
      });
    }
    int choices = config.hasChoiceCount() ? config.getChoiceCount().getValue() : 2;
    ThreadLocalRandom random = ThreadLocalRandom.current();
    UpstreamHost best = null;
    for (int i = 0; i < choices; i++) {
      UpstreamHost h = hosts.get((int) Long.remainderUnsigned(random.nextLong(), hosts.size()));
      if (best == null || activeOn(h) < activeOn(best)) {
        best = h;
      }
    }
    return best;
  }

  private UpstreamHost edf(List<UpstreamHost> hosts, String source, java.util.function.ToDoubleFunction<UpstreamHost> weight) {
    String signature = hosts.stream().map(h -> h.key() + "*" + h.weight()).toList().toString();
    Schedule s = schedules.compute(source, (k, old) -> old != null && old.signature().equals(signature)
        ? old : new Schedule(signature, EdfScheduler.createWithPicks(hosts, weight, seed)));
    synchronized (s) {
      return s.scheduler().pickAndAdd(weight);
    }
  }

  private record Schedule(String signature, EdfScheduler<UpstreamHost> scheduler) {}

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

  /**
   * The retries resource RetryStateImpl::shouldRetry asks with canCreate(), NoOverflow past it:
   * max_retries (default 3), or with a retry_budget (resource_manager_impl.h RetryBudgetImpl::max)
   * max(budget_percent (default 20 %) of active plus pending requests, min_retry_concurrency
   * (default 3)), max_retries then being ignored.
   */
  boolean tryStartRetry() {
    CircuitBreakers.Thresholds t = thresholds();
    long max;
    if (t.hasRetryBudget()) {
      var budget = t.getRetryBudget();
      double percent = budget.hasBudgetPercent() ? budget.getBudgetPercent().getValue() : 20.0;
      long min = budget.hasMinRetryConcurrency() ? budget.getMinRetryConcurrency().getValue() : 3;
      max = Math.max((long) (percent / 100.0 * activeRequests.get()), min);
    } else {
      max = t.hasMaxRetries() ? t.getMaxRetries().getValue() : 3;
    }
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
