package dev.weir.testkit;

import java.util.List;
import java.util.Set;

/**
 * How Envoy splits traffic between priority levels, from source/common/upstream/
 * load_balancer_impl.cc: LoadBalancerBase::recalculatePerPriorityState (each level's health is
 * min(100, overprovisioning factor 1.4 × healthy / total); levels take load in order, in proportion
 * to their health over the normalized total, the rounding remainder to the first healthy level),
 * recalculatePerPriorityPanic (a level with fewer than 50 % healthy hosts is in panic unless the
 * total is 100 %) and recalculateLoadInTotalPanic (all levels in panic: load by host count,
 * regardless of health). The previous_priorities retry plugin
 * (source/extensions/retry/priority/previous_priorities/previous_priorities.cc) recomputes the
 * split with the already tried levels counted as unhealthy, and keeps the unmodified split when
 * that leaves nothing.
 */
record PriorityLoad(int[] load, boolean[] panic) {
  static final int OVERPROVISIONING_FACTOR = 140;
  static final int HEALTHY_PANIC_THRESHOLD = 50;

  /** One level: how many hosts it has and how many are healthy. */
  record Level(int hosts, int healthy) {}

  static PriorityLoad compute(List<Level> levels, Set<Integer> excluded) {
    PriorityLoad unmodified = compute(levels, Set.<Integer>of(), true);
    if (excluded.isEmpty()) {
      return unmodified;
    }
    PriorityLoad adjusted = compute(levels, excluded, false);
    // The plugin only changes the load; whether a level is in panic stays the balancer's own.
    return adjusted == null ? unmodified : new PriorityLoad(adjusted.load(), unmodified.panic());
  }

  private static PriorityLoad compute(List<Level> levels, Set<Integer> excluded, boolean allowTotalPanic) {
    int n = levels.size();
    int[] health = new int[n];
    int sum = 0;
    for (int i = 0; i < n; i++) {
      Level l = levels.get(i);
      health[i] = l.hosts() == 0 || excluded.contains(i) ? 0
          : Math.min(100, OVERPROVISIONING_FACTOR * l.healthy() / l.hosts());
      sum += health[i];
    }
    int normalized = Math.min(100, sum);
    boolean[] panic = new boolean[n];
    int[] load = new int[n];
    if (normalized == 0) {
      if (!allowTotalPanic) {
        return null; // previous_priorities: nothing left, use the unmodified load
      }
      return totalPanic(levels);
    }
    int remaining = 100;
    int firstHealthy = -1;
    for (int i = 0; i < n; i++) {
      if (health[i] > 0 && firstHealthy < 0) {
        firstHealthy = i;
      }
      load[i] = Math.min(remaining, health[i] * 100 / normalized);
      remaining -= load[i];
    }
    load[firstHealthy] += remaining;
    boolean totalPanic = true;
    for (int i = 0; i < n; i++) {
      Level l = levels.get(i);
      panic[i] = normalized != 100 && (l.hosts() == 0 || 100 * l.healthy() / l.hosts() < HEALTHY_PANIC_THRESHOLD);
      totalPanic &= panic[i];
    }
    if (totalPanic) {
      return totalPanic(levels);
    }
    return new PriorityLoad(load, panic);
  }

  private static PriorityLoad totalPanic(List<Level> levels) {
    int n = levels.size();
    int total = levels.stream().mapToInt(Level::hosts).sum();
    int[] load = new int[n];
    boolean[] panic = new boolean[n];
    java.util.Arrays.fill(panic, true);
    if (total == 0) {
      load[0] = 100;
      return new PriorityLoad(load, panic);
    }
    int remaining = 100;
    int firstNonEmpty = -1;
    for (int i = 0; i < n; i++) {
      if (firstNonEmpty < 0 && levels.get(i).hosts() > 0) {
        firstNonEmpty = i;
      }
      load[i] = 100 * levels.get(i).hosts() / total;
      remaining -= load[i];
    }
    load[firstNonEmpty] += remaining;
    return new PriorityLoad(load, panic);
  }

  /** LoadBalancerBase::choosePriority: the level a number in [0, 100) falls into. */
  int choose(int hash100) {
    int cumulative = 0;
    for (int i = 0; i < load.length; i++) {
      cumulative += load[i];
      if (hash100 < cumulative) {
        return i;
      }
    }
    return load.length - 1;
  }
}
