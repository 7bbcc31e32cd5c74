package dev.weir.extproc.breaker;

import dev.weir.config.StatusRanges;
import dev.weir.config.v1.Breaker;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.config.v1.Pool;
import dev.weir.config.v1.PoolMember;
import dev.weir.extproc.telemetry.GatewayMetrics;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The throttle-aware circuit breaker of every pool that configures one. The upstream pass feeds it
 * each attempt's answer ({@link #observe}): counted statuses within the rule's interval trip the
 * member for the rule's time or, with acceptRetryAfter, for as long as the backend said (bounded);
 * the first answer after a trip ends is the probe, which closes the breaker or trips it again at
 * once. The router pass asks {@link #allTripped} before sending a request anywhere. Trips live in
 * a {@link TripStore} (Redis when configured), and are reported to the control plane, which takes
 * tripped members out of the load assignment of every Envoy.
 *
 * <p>Fails open: when the store cannot be reached, nothing trips and no request is refused (the
 * breaker exists to keep traffic flowing; refusing every request of a pool because its state is
 * unreadable would be the outage it prevents). Envoy's retries still move each request along.
 */
public final class Breakers {
  private static final Logger log = LoggerFactory.getLogger(Breakers.class);
  private static final Logger audit = LoggerFactory.getLogger("weir.audit");

  /** One pool's rule, in the units the breaker works in. */
  record Rule(StatusRanges statuses, long count, long intervalMillis, long tripMillis, boolean acceptRetryAfter,
      long maxTripMillis, int allTrippedStatus, boolean capacityWeights, long minTripMillis, long probeIntervalMillis) {
    static Rule of(Breaker b) {
      return new Rule(StatusRanges.parse(b.getStatusesList()), Math.max(1, b.getCount()), b.getIntervalSeconds() * 1000L,
          b.getTripSeconds() * 1000L, b.getAcceptRetryAfter(), b.getMaxTripSeconds() * 1000L, b.getAllTrippedStatus(),
          b.getCapacityWeights(), Math.max(1, b.getMinTripMillis()), b.getAllTrippedProbeMillis());
    }
  }

  /** Every member of the pool is tripped: answer with {@code status} and this Retry-After. */
  public record AllTripped(int status, long retryAfterSeconds) {}

  /**
   * What the router pass does with a request: send it ({@code refused} null), marked as the pool's
   * probe when {@code probe}, or answer at once with {@code refused}.
   */
  public record Admission(AllTripped refused, boolean probe) {
    public static final Admission SEND = new Admission(null, false);
    public static final Admission PROBE = new Admission(null, true);
  }

  private final Map<String, Rule> rules = new HashMap<>();
  private final Map<String, List<String>> members = new HashMap<>();
  private final TripStore store;
  private final TripReporter reporter;
  private final GatewayMetrics metrics;
  private final Map<String, Integer> reportedWeights = new ConcurrentHashMap<>();
  private volatile long lastStoreWarning;

  public Breakers(GatewayConfig config, TripStore store, TripReporter reporter, GatewayMetrics metrics) {
    for (Pool pool : config.getPoolsList()) {
      if (pool.hasBreaker()) {
        rules.put(pool.getName(), Rule.of(pool.getBreaker()));
        members.put(pool.getName(), pool.getMembersList().stream().map(PoolMember::getBackend).toList());
      }
    }
    this.store = store;
    this.reporter = reporter;
    this.metrics = metrics;
  }

  /** Whether the pool has a breaker (its upstream filter then sends response headers). */
  public boolean watches(String pool) {
    return rules.containsKey(pool);
  }

  /** One attempt's answer from {@code backend}, as the upstream pass saw it. */
  public void observe(String pool, String backend, int status, Map<String, String> headers) {
    observe(pool, backend, status, headers, false);
  }

  /**
   * One attempt's answer; {@code probe} when the router pass sent the request as the pool's probe
   * while every member was tripped ({@link #admit}). A probe's good answer ends its member's trip
   * early, since it was sent after the trip began; any other good answer during a trip may come from
   * a request sent before it, and says nothing about the member now.
   */
  public void observe(String pool, String backend, int status, Map<String, String> headers, boolean probe) {
    Rule rule = rules.get(pool);
    if (rule == null) {
      return;
    }
    String member = pool + "/" + backend;
    try {
      long now = store.nowMillis();
      TripStore.Trip trip = store.get(member);
      boolean halfOpen = trip != null && (trip.untilMillis() <= now || probe);
      if (rule.statuses().matches(status)) {
        long counted = halfOpen ? rule.count() : store.count(member, rule.intervalMillis());
        if (counted >= rule.count()) {
          trip(rule, pool, backend, status, headers, now, halfOpen, counted);
        }
      } else if (halfOpen && store.clear(member)) {
        audit.info("breaker recovered pool={} backend={}: the probe answered {}{}", pool, backend, status,
            trip.untilMillis() > now ? " before the trip's end" : "");
        metrics.breaker("recovery", pool, backend);
        reporter.recover(pool, backend);
      }
      if (rule.capacityWeights()) {
        Integer weight = CapacityWeights.weight(headers);
        if (weight != null && !weight.equals(reportedWeights.put(member, weight))) {
          reporter.weight(pool, backend, weight);
        }
      }
    } catch (RuntimeException e) {
      storeFailed(pool, backend, e);
    }
  }

  private void trip(Rule rule, String pool, String backend, int status, Map<String, String> headers, long now,
      boolean probe, long counted) {
    long millis = rule.tripMillis();
    String reason = "status " + status;
    if (rule.acceptRetryAfter()) {
      OptionalLong told = TripHeaders.millis(headers, now);
      if (told.isPresent()) {
        millis = Math.min(Math.max(rule.minTripMillis(), told.getAsLong()), rule.maxTripMillis());
        reason += ", backend said " + (told.getAsLong() >= 1000 || told.getAsLong() == 0
            ? (told.getAsLong() + 999) / 1000 + " s" : told.getAsLong() + " ms");
      }
    }
    if (probe) {
      reason += ", probe failed";
    } else if (rule.count() > 1) {
      reason += ", " + counted + " in " + rule.intervalMillis() / 1000 + " s";
    }
    TripStore.TripResult result = store.trip(pool + "/" + backend, now + millis, reason);
    if (result == TripStore.TripResult.UNCHANGED) {
      return;
    }
    long seconds = (millis + 999) / 1000;
    if (result == TripStore.TripResult.OPENED) {
      audit.info("breaker trip pool={} backend={} seconds={} reason=\"{}\"", pool, backend, seconds, reason);
      metrics.breaker(probe ? "probe_failed" : "trip", pool, backend);
    }
    reporter.tripMillis(pool, backend, millis, reason);
  }

  /** Null when some member of the pool can take a request; else what to answer at once. */
  public AllTripped allTripped(String pool) {
    Rule rule = rules.get(pool);
    if (rule == null) {
      return null;
    }
    try {
      long now = store.nowMillis();
      long soonest = Long.MAX_VALUE;
      for (String backend : members.get(pool)) {
        TripStore.Trip trip = store.get(pool + "/" + backend);
        if (trip == null || trip.untilMillis() <= now) {
          return null;
        }
        soonest = Math.min(soonest, trip.untilMillis());
      }
      metrics.breaker("all_tripped", pool, "");
      return new AllTripped(rule.allTrippedStatus(), Math.max(1, (soonest - now + 999) / 1000));
    } catch (RuntimeException e) {
      storeFailed(pool, "", e);
      return null;
    }
  }

  /**
   * The router pass's question: send the request, or answer at once. While every member is tripped,
   * one request per {@code allTrippedProbeMillis} (across replicas, through the store) is sent
   * anyway as the pool's probe: Envoy, finding no healthy member, spreads it over all of them
   * (panic mode) and its retries try the others; the rest are refused, as {@link #allTripped} says.
   * A Retry-After of whole seconds is an upper bound, and the backends refill during it.
   */
  public Admission admit(String pool) {
    AllTripped all = allTripped(pool);
    if (all == null) {
      return Admission.SEND;
    }
    Rule rule = rules.get(pool);
    if (rule.probeIntervalMillis() > 0) {
      try {
        if (store.probe(pool, rule.probeIntervalMillis())) {
          metrics.breaker("probe", pool, "");
          return Admission.PROBE;
        }
      } catch (RuntimeException e) {
        storeFailed(pool, "", e);
        return Admission.SEND;
      }
    }
    return new Admission(all, false);
  }

  private void storeFailed(String pool, String backend, RuntimeException e) {
    metrics.breaker("store_error", pool, backend);
    long now = System.currentTimeMillis();
    if (now - lastStoreWarning > 10_000) {
      lastStoreWarning = now;
      log.warn("breaker state unavailable ({}); failing open: nothing trips and no request is refused", e.toString());
    }
  }
}
