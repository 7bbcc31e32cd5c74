package dev.weir.testkit;

import java.util.Arrays;
import java.util.List;

/**
 * How Envoy splits traffic between priority levels, from source/common/upstream/
 * load_balancer_impl.cc (1.34: source/extensions/load_balancing_policies/common/load_balancer_impl.cc).
 * recalculatePerPriorityState: each level's healthy availability is min(100, overprovisioning_factor
 * (default 140) × healthy / hosts) and its degraded availability the same for degraded hosts (by
 * weight with weighted_priority_health); the normalized total is min(100, sum of both); distributeLoad
 * gives healthy load in level order (availability × 100 / total, capped by what is left), then
 * degraded load from what remains, and the rounding remainder to the first level with healthy (else
 * degraded) availability. recalculatePerPriorityPanic: unless the total is 100, a level whose healthy
 * plus degraded share of hosts is under healthy_panic_threshold (default 50 %) is in panic; with a
 * threshold of 0 and nothing available, priority 0 takes all the load. recalculateLoadInTotalPanic:
 * every level in panic splits the load by host count, regardless of health.
 */
record PriorityLoad(int[] healthyLoad, int[] degradedLoad, boolean[] panic, int[] health, int[] degraded) {
  static final int DEFAULT_OVERPROVISIONING_FACTOR = 140;
  static final int DEFAULT_HEALTHY_PANIC_THRESHOLD = 50;

  /** One level: host count and weights (all, healthy, degraded), as HostSet holds them. */
  record Level(int hosts, int healthy, int degradedHosts, long totalWeight, long healthyWeight, long degradedWeight) {
    Level(int hosts, int healthy) {
      this(hosts, healthy, 0, hosts, healthy, 0);
    }

    Level(int hosts, int healthy, int degradedHosts) {
      this(hosts, healthy, degradedHosts, hosts, healthy, degradedHosts);
    }
  }

  /** The cluster settings that shape the split. */
  record Settings(int overprovisioningFactor, int panicThreshold, boolean weightedPriorityHealth) {
    static final Settings DEFAULT = new Settings(DEFAULT_OVERPROVISIONING_FACTOR, DEFAULT_HEALTHY_PANIC_THRESHOLD, false);
  }

  /** Which of a level's host lists a pick draws from (HostAvailability in choosePriority). */
  record Choice(int priority, boolean degraded) {}

  static PriorityLoad compute(List<Level> levels) {
    return compute(levels, Settings.DEFAULT);
  }

  static PriorityLoad compute(List<Level> levels, Settings settings) {
    int n = levels.size();
    int[] health = new int[n];
    int[] degraded = new int[n];
    for (int i = 0; i < n; i++) {
      Level l = levels.get(i);
      if (l.hosts() == 0) {
        continue;
      }
      long total = settings.weightedPriorityHealth() ? l.totalWeight() : l.hosts();
      long healthy = settings.weightedPriorityHealth() ? l.healthyWeight() : l.healthy();
      long deg = settings.weightedPriorityHealth() ? l.degradedWeight() : l.degradedHosts();
      health[i] = (int) Math.min(100, settings.overprovisioningFactor() * healthy / total);
      degraded[i] = (int) Math.min(100, settings.overprovisioningFactor() * deg / total);
    }
    int normalized = normalizedTotal(health, degraded);
    int[] healthyLoad = new int[n];
    int[] degradedLoad = new int[n];
    if (normalized > 0) {
      int[] firstHealthy = {-1};
      int remaining = distribute(healthyLoad, health, 100, normalized, firstHealthy);
      int[] firstDegraded = {-1};
      remaining = distribute(degradedLoad, degraded, remaining, normalized, firstDegraded);
      if (remaining != 0) {
        if (firstHealthy[0] != -1) {
          healthyLoad[firstHealthy[0]] += remaining;
        } else {
          degradedLoad[firstDegraded[0]] += remaining;
        }
      }
    }
    boolean[] panic = new boolean[n];
    if (settings.panicThreshold() == 0 && normalized == 0) {
      // recalculatePerPriorityPanic: panic disabled and nothing available; P=0 gets the load and
      // the pick finds no healthy host.
      Arrays.fill(healthyLoad, 0);
      healthyLoad[0] = 100;
      return new PriorityLoad(healthyLoad, degradedLoad, panic, health, degraded);
    }
    boolean totalPanic = true;
    for (int i = 0; i < n; i++) {
      panic[i] = normalized != 100 && inPanic(levels.get(i), settings.panicThreshold());
      totalPanic &= panic[i];
    }
    if (totalPanic) {
      totalPanicLoad(levels, healthyLoad, degradedLoad);
    }
    return new PriorityLoad(healthyLoad, degradedLoad, panic, health, degraded);
  }

  static int normalizedTotal(int[] health, int[] degraded) {
    int sum = 0;
    for (int i = 0; i < health.length; i++) {
      sum += health[i] + degraded[i];
    }
    return Math.min(100, sum);
  }

  /** distributeLoad: returns the load left over; sets first[0] to the first level with availability. */
  private static int distribute(int[] load, int[] availability, int total, int normalized, int[] first) {
    for (int i = 0; i < availability.length; i++) {
      if (first[0] < 0 && availability[i] > 0) {
        first[0] = i;
      }
      load[i] = Math.min(total, availability[i] * 100 / normalized);
      total -= load[i];
    }
    return total;
  }

  /** LoadBalancerBase::isHostSetInPanic: (healthy + degraded) share of hosts under the threshold. */
  private static boolean inPanic(Level l, int threshold) {
    double healthy = l.hosts() == 0 ? 0 : 100.0 * l.healthy() / l.hosts();
    double deg = l.hosts() == 0 ? 0 : 100.0 * l.degradedHosts() / l.hosts();
    return healthy + deg < Math.min(100, threshold);
  }

  /** recalculateLoadInTotalPanic. */
  private static void totalPanicLoad(List<Level> levels, int[] healthyLoad, int[] degradedLoad) {
    int total = levels.stream().mapToInt(Level::hosts).sum();
    Arrays.fill(degradedLoad, 0);
    if (total == 0) {
      Arrays.fill(healthyLoad, 0);
      healthyLoad[0] = 100;
      return;
    }
    int remaining = 100;
    int firstNonEmpty = -1;
    for (int i = 0; i < levels.size(); i++) {
      if (firstNonEmpty < 0 && levels.get(i).hosts() > 0) {
        firstNonEmpty = i;
      }
      healthyLoad[i] = 100 * levels.get(i).hosts() / total;
      remaining -= healthyLoad[i];
    }
    healthyLoad[firstNonEmpty] += remaining;
  }

  /** The healthy load alone, for tests and traces. */
  int[] load() {
    return healthyLoad;
  }

  /**
   * LoadBalancerBase::choosePriority: {@code hash % 100 + 1} (unsigned) against the cumulative
   * healthy loads, then the cumulative degraded loads.
   */
  Choice choose(long hash) {
    long h = Long.remainderUnsigned(hash, 100) + 1;
    int cumulative = 0;
    for (int i = 0; i < healthyLoad.length; i++) {
      cumulative += healthyLoad[i];
      if (h <= cumulative) {
        return new Choice(i, false);
      }
    }
    for (int i = 0; i < degradedLoad.length; i++) {
      cumulative += degradedLoad[i];
      if (h <= cumulative) {
        return new Choice(i, true);
      }
    }
    return new Choice(0, false); // IS_ENVOY_BUG("unexpected load error")
  }

  /** A load with the same panic flags but other healthy and degraded splits. */
  PriorityLoad withLoad(int[] healthy, int[] degradedSplit) {
    return new PriorityLoad(healthy, degradedSplit, panic, health, degraded);
  }
}
