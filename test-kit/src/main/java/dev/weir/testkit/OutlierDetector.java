package dev.weir.testkit;

import com.google.protobuf.util.Durations;
import io.envoyproxy.envoy.config.cluster.v3.OutlierDetection;
import java.util.HashMap;
import java.util.Map;

/**
 * A cluster's outlier detection as Envoy's source/common/upstream/outlier_detection_impl.cc runs it
 * with split_external_local_origin_errors off (the default, and what Weir generates): every result
 * becomes an HTTP code (putResultNoLocalExternalSplit: a timeout counts as 504, a connect failure
 * or reset as 503); consecutive 5xx and consecutive gateway failures (502/503/504) eject; any other
 * code resets both counts (putHttpResponseCode). A host stays ejected for
 * base_ejection_time × its number of ejections, capped by max_ejection_time
 * (checkHostForUneject); ejection is refused while the ejected share is not below
 * max_ejection_percent (ejectHost). Un-ejection is checked when hosts are picked rather than on
 * the interval timer, so a host may return up to one {@code interval} earlier than in Envoy.
 */
final class OutlierDetector {
  private final boolean enabled;
  private final int consecutive5xx;
  private final int consecutiveGatewayFailure;
  private final int enforcing5xx;
  private final int enforcingGatewayFailure;
  private final long baseEjectionMillis;
  private final long maxEjectionMillis;
  private final int maxEjectionPercent;
  private final Map<String, HostState> hosts = new HashMap<>();

  private static final class HostState {
    int consecutive5xx;
    int consecutiveGateway;
    int ejections;
    long ejectedUntilMillis;
    boolean ejected;
  }

  OutlierDetector(boolean enabled, OutlierDetection config) {
    this.enabled = enabled;
    // Defaults from envoy/config/cluster/v3/outlier_detection.proto.
    this.consecutive5xx = config.hasConsecutive5Xx() ? config.getConsecutive5Xx().getValue() : 5;
    this.consecutiveGatewayFailure = config.hasConsecutiveGatewayFailure()
        ? config.getConsecutiveGatewayFailure().getValue() : 5;
    this.enforcing5xx = config.hasEnforcingConsecutive5Xx() ? config.getEnforcingConsecutive5Xx().getValue() : 100;
    this.enforcingGatewayFailure = config.hasEnforcingConsecutiveGatewayFailure()
        ? config.getEnforcingConsecutiveGatewayFailure().getValue() : 0;
    this.baseEjectionMillis = config.hasBaseEjectionTime() ? Durations.toMillis(config.getBaseEjectionTime()) : 30_000;
    this.maxEjectionMillis = config.hasMaxEjectionTime() ? Durations.toMillis(config.getMaxEjectionTime())
        : Math.max(300_000, baseEjectionMillis);
    this.maxEjectionPercent = config.hasMaxEjectionPercent() ? config.getMaxEjectionPercent().getValue() : 10;
  }

  /** Records one attempt's result as an HTTP code; returns true when it ejected the host. */
  synchronized boolean putHttpResponseCode(String host, int code, int hostCount, EnvoyStats stats) {
    if (!enabled) {
      return false;
    }
    HostState s = hosts.computeIfAbsent(host, k -> new HostState());
    if (code >= 500 && code < 600) {
      s.consecutive5xx++;
      boolean gateway = code == 502 || code == 503 || code == 504;
      if (gateway) {
        s.consecutiveGateway++;
      } else {
        s.consecutiveGateway = 0;
      }
      if (gateway && consecutiveGatewayFailure > 0 && s.consecutiveGateway >= consecutiveGatewayFailure
          && enforcingGatewayFailure >= 100) {
        return eject(s, hostCount, stats);
      }
      if (consecutive5xx > 0 && s.consecutive5xx >= consecutive5xx && enforcing5xx >= 100) {
        return eject(s, hostCount, stats);
      }
      return false;
    }
    s.consecutive5xx = 0;
    s.consecutiveGateway = 0;
    return false;
  }

  private boolean eject(HostState s, int hostCount, EnvoyStats stats) {
    s.consecutive5xx = 0;
    s.consecutiveGateway = 0;
    if (s.ejected) {
      return false;
    }
    long active = hosts.values().stream().filter(h -> h.ejected).count();
    double ejectedPercent = 100.0 * active / Math.max(1, hostCount);
    if (ejectedPercent >= Math.min(100, maxEjectionPercent)) {
      stats.ejectionsOverflow.incrementAndGet();
      return false;
    }
    s.ejections++;
    s.ejected = true;
    s.ejectedUntilMillis = System.currentTimeMillis() + Math.min(baseEjectionMillis * s.ejections, maxEjectionMillis);
    stats.ejections.incrementAndGet();
    return true;
  }

  /** True while the host is ejected; un-ejects it once its ejection time has passed. */
  synchronized boolean ejected(String host) {
    HostState s = hosts.get(host);
    if (s == null || !s.ejected) {
      return false;
    }
    if (System.currentTimeMillis() >= s.ejectedUntilMillis) {
      s.ejected = false;
      return false;
    }
    return true;
  }

  /** How long the host's current ejection lasts in total, for tests; 0 when not ejected. */
  synchronized long ejectionMillis(String host) {
    HostState s = hosts.get(host);
    return s == null || !s.ejected ? 0 : Math.min(baseEjectionMillis * s.ejections, maxEjectionMillis);
  }
}
