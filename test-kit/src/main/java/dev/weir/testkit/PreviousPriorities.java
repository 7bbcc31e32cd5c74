package dev.weir.testkit;

import java.util.ArrayList;
import java.util.List;

/**
 * One request's envoy.retry_priorities.previous_priorities plugin, following
 * source/extensions/retry/priority/previous_priorities/previous_priorities.cc
 * (PreviousPrioritiesRetryPriority). Every attempted host is remembered (onHostAttempted). Until
 * update_frequency hosts were attempted the balancer's own load stands; each time the count reaches
 * a multiple of update_frequency, the priorities of all remembered hosts are excluded and the load
 * is re-spread over the others' healthy and degraded availability (adjustForAttemptedPriorities;
 * the remainder goes round the levels again until all 100 are placed); in between, the last
 * adjusted load is reused. When nothing is left, the exclusions and the remembered hosts are
 * cleared and the load is spread over every level's availability, so later retries again avoid only
 * the levels tried since; with no availability at all, the balancer's own load (total panic) stands.
 */
final class PreviousPriorities {
  private final int updateFrequency;
  private final List<Integer> attempted = new ArrayList<>();
  private boolean[] excluded = new boolean[0];
  private PriorityLoad adjusted;

  PreviousPriorities(int updateFrequency) {
    if (updateFrequency < 1) {
      throw new IllegalArgumentException("previous_priorities update_frequency must be greater than 0");
    }
    this.updateFrequency = updateFrequency;
  }

  void onHostAttempted(int priority) {
    attempted.add(priority);
  }

  /** determinePriorityLoad: the load this pick uses, given the balancer's own. */
  PriorityLoad determine(PriorityLoad original) {
    if (attempted.size() < updateFrequency) {
      return original;
    }
    if (attempted.size() % updateFrequency == 0) {
      int n = original.health().length;
      if (excluded.length < n) {
        excluded = java.util.Arrays.copyOf(excluded, n);
      }
      for (int p : attempted) {
        excluded[p] = true;
      }
      adjusted = adjust(original);
      if (adjusted == null) {
        return original;
      }
    }
    return adjusted == null ? original : adjusted;
  }

  private PriorityLoad adjust(PriorityLoad original) {
    int n = original.health().length;
    int[] health = new int[n];
    int[] degraded = new int[n];
    int total = availability(original, health, degraded);
    if (total == 0) {
      java.util.Arrays.fill(excluded, false);
      attempted.clear();
      total = availability(original, health, degraded);
    }
    if (total == 0) {
      return null;
    }
    int[] healthyLoad = new int[n];
    int[] degradedLoad = new int[n];
    int left = 100;
    while (left != 0) {
      for (int i = 0; i < n; i++) {
        int delta = Math.min(left, health[i] * 100 / total);
        healthyLoad[i] += delta;
        left -= delta;
      }
      for (int i = 0; i < n; i++) {
        int delta = Math.min(left, degraded[i] * 100 / total);
        degradedLoad[i] += delta;
        left -= delta;
      }
    }
    return original.withLoad(healthyLoad, degradedLoad);
  }

  /** adjustedAvailability: excluded levels count as 0; the sum is capped at 100. */
  private int availability(PriorityLoad original, int[] health, int[] degraded) {
    int total = 0;
    for (int i = 0; i < health.length; i++) {
      boolean out = i < excluded.length && excluded[i];
      health[i] = out ? 0 : original.health()[i];
      degraded[i] = out ? 0 : original.degraded()[i];
      total += health[i] + degraded[i];
    }
    return Math.min(total, 100);
  }
}
