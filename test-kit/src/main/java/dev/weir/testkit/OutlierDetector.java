package dev.weir.testkit;

import com.google.protobuf.util.Durations;
import io.envoyproxy.envoy.config.cluster.v3.OutlierDetection;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.LongSupplier;

/**
 * A cluster's outlier detection as Envoy 1.34's source/common/upstream/outlier_detection_impl.cc
 * runs it with split_external_local_origin_errors off (the default, and what Weir generates).
 * <ul>
 * <li>Every result becomes an HTTP code (putResultNoLocalExternalSplit: a timeout counts as 504, a
 * connect failure or reset as 503). DetectorHostMonitorImpl::putHttpResponseCode: a gateway error
 * (502, 503, 504) counts towards consecutive gateway failures, another 5xx resets that count, any
 * 5xx counts towards consecutive 5xx, anything else resets both; an ejection is attempted when a
 * count becomes exactly its threshold ({@code ++count == threshold}).</li>
 * <li>onConsecutiveErrorWorker: nothing for a host already ejected; otherwise ejectHost, then only
 * that detector's count is reset, ejected or not.</li>
 * <li>ejectHost: refused (ejections_overflow) unless 100 × (ejected + 1) / hosts is at most
 * max_ejection_percent (since Envoy 1.27, PR #27909), or always_eject_one_host and none is
 * ejected; then enforced with the enforcing_* percentage as a chance (enforcing gateway failure
 * defaults to 0). An enforced ejection raises the host's back-off multiplier (while multiplier ×
 * base is below max_ejection_time + base) and draws a jitter below max_ejection_time_jitter.</li>
 * <li>The interval timer (checkHostForUneject, every {@code interval}, default 10 s): an ejected
 * host returns once min(base_ejection_time × multiplier, max_ejection_time) + jitter has passed
 * since its ejection, with both counts reset; a host not ejected has its multiplier lowered by one,
 * so ejections grow longer while a host keeps failing and shorter again while it behaves.</li>
 * </ul>
 * The timer is run lazily: whenever the detector is used, every tick that fell due since the last
 * use is applied in order, at its own time. Success-rate and failure-percentage ejection are not
 * modelled (Weir configures neither).
 */
final class OutlierDetector {
  private final boolean enabled;
  private final int consecutive5xx;
  private final int consecutiveGatewayFailure;
  private final int enforcing5xx;
  private final int enforcingGatewayFailure;
  private final long intervalMillis;
  private final long baseEjectionMillis;
  private final long maxEjectionMillis;
  private final long jitterMillis;
  private final int maxEjectionPercent;
  private final boolean alwaysEjectOneHost;
  private final LongSupplier clock;
  private final Map<String, HostState> hosts = new HashMap<>();
  private long nextTick;

  private static final class HostState {
    int consecutive5xx;
    int consecutiveGateway;
    int backoff;
    long ejectedAt;
    long jitter;
    boolean ejected;
  }

  OutlierDetector(boolean enabled, OutlierDetection config) {
    this(enabled, config, System::currentTimeMillis);
  }

  OutlierDetector(boolean enabled, OutlierDetection config, LongSupplier clock) {
    this.enabled = enabled;
    this.clock = clock;
    // Defaults from envoy/config/cluster/v3/outlier_detection.proto.
    this.consecutive5xx = config.hasConsecutive5Xx() ? config.getConsecutive5Xx().getValue() : 5;
    this.consecutiveGatewayFailure = config.hasConsecutiveGatewayFailure()
        ? config.getConsecutiveGatewayFailure().getValue() : 5;
    this.enforcing5xx = config.hasEnforcingConsecutive5Xx() ? config.getEnforcingConsecutive5Xx().getValue() : 100;
    this.enforcingGatewayFailure = config.hasEnforcingConsecutiveGatewayFailure()
        ? config.getEnforcingConsecutiveGatewayFailure().getValue() : 0;
    this.intervalMillis = Math.max(1, config.hasInterval() ? Durations.toMillis(config.getInterval()) : 10_000);
    this.baseEjectionMillis = config.hasBaseEjectionTime() ? Durations.toMillis(config.getBaseEjectionTime()) : 30_000;
    this.maxEjectionMillis = config.hasMaxEjectionTime() ? Durations.toMillis(config.getMaxEjectionTime())
        : Math.max(300_000, baseEjectionMillis);
    if (enabled && maxEjectionMillis < baseEjectionMillis) {
      throw new IllegalArgumentException("outlier detector's max_ejection_time cannot be smaller than base_ejection_time");
    }
    this.jitterMillis = config.hasMaxEjectionTimeJitter() ? Durations.toMillis(config.getMaxEjectionTimeJitter()) : 0;
    this.maxEjectionPercent = Math.min(100, config.hasMaxEjectionPercent() ? config.getMaxEjectionPercent().getValue() : 10);
    this.alwaysEjectOneHost = config.getAlwaysEjectOneHost().getValue();
    this.nextTick = clock.getAsLong() + intervalMillis;
  }

  /** Records one attempt's result as an HTTP code; returns true when it ejected the host. */
  synchronized boolean putHttpResponseCode(String host, int code, int hostCount, EnvoyStats stats) {
    if (!enabled) {
      return false;
    }
    runTimer();
    HostState s = hosts.computeIfAbsent(host, k -> new HostState());
    if (code < 500 || code > 599) {
      s.consecutive5xx = 0;
      s.consecutiveGateway = 0;
      return false;
    }
    boolean ejected = false;
    if (code == 502 || code == 503 || code == 504) {
      if (++s.consecutiveGateway == consecutiveGatewayFailure) {
        ejected = onConsecutiveError(s, enforcingGatewayFailure, hostCount, stats);
        if (ejected || !s.ejected) {
          s.consecutiveGateway = 0;
        }
      }
    } else {
      s.consecutiveGateway = 0;
    }
    if (++s.consecutive5xx == consecutive5xx) {
      boolean now = onConsecutiveError(s, enforcing5xx, hostCount, stats);
      if (now || !s.ejected) {
        s.consecutive5xx = 0;
      }
      ejected |= now;
    }
    return ejected;
  }

  /** onConsecutiveErrorWorker and ejectHost; the caller resets the detector's count unless the host was already out. */
  private boolean onConsecutiveError(HostState s, int enforcing, int hostCount, EnvoyStats stats) {
    if (s.ejected) {
      return false;
    }
    long active = hosts.values().stream().filter(h -> h.ejected).count();
    double ejectedPercent = 100.0 * (active + 1) / Math.max(1, hostCount);
    if (!(ejectedPercent <= maxEjectionPercent || (alwaysEjectOneHost && active == 0))) {
      stats.ejectionsOverflow.incrementAndGet();
      return false;
    }
    if (enforcing < 100 && ThreadLocalRandom.current().nextInt(100) >= enforcing) {
      return false; // runtime featureEnabled(enforcing_*, percent)
    }
    s.ejected = true;
    s.ejectedAt = clock.getAsLong();
    s.jitter = jitterMillis > 0 ? ThreadLocalRandom.current().nextLong(jitterMillis) : 0;
    if (s.backoff * baseEjectionMillis < maxEjectionMillis + baseEjectionMillis) {
      s.backoff++;
    }
    stats.ejections.incrementAndGet();
    return true;
  }

  /** DetectorImpl::onIntervalTimer's checkHostForUneject for every tick that is due. */
  private void runTimer() {
    long now = clock.getAsLong();
    if (now < nextTick) {
      return;
    }
    long due = (now - nextTick) / intervalMillis + 1;
    if (due > 100_000) { // a detector idle for ages: every multiplier has long decayed to 0
      nextTick += (due - 100_000) * intervalMillis;
      due = 100_000;
    }
    for (long i = 0; i < due; i++) {
      long tick = nextTick;
      for (HostState s : hosts.values()) {
        if (!s.ejected) {
          if (s.backoff > 0) {
            s.backoff--;
          }
        } else if (Math.min(baseEjectionMillis * s.backoff, maxEjectionMillis) + s.jitter <= tick - s.ejectedAt) {
          s.ejected = false;
          s.consecutive5xx = 0;
          s.consecutiveGateway = 0;
        }
      }
      nextTick += intervalMillis;
    }
  }

  /** True while the host is ejected. */
  synchronized boolean ejected(String host) {
    if (!enabled) {
      return false;
    }
    runTimer();
    HostState s = hosts.get(host);
    return s != null && s.ejected;
  }

  /** How long the host's current ejection lasts (without jitter), for tests; 0 when not ejected. */
  synchronized long ejectionMillis(String host) {
    runTimer();
    HostState s = hosts.get(host);
    return s == null || !s.ejected ? 0 : Math.min(baseEjectionMillis * s.backoff, maxEjectionMillis);
  }
}
