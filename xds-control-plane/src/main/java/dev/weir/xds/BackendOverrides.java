package dev.weir.xds;

import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Runtime changes applied on top of every config version until undone: backends an operator
 * drained or re-weighted through the admin API, and pool members the throttle-aware breaker
 * tripped or weighted by their remaining capacity (see {@link Trips}).
 */
public final class BackendOverrides {
  private final Set<String> drained = ConcurrentHashMap.newKeySet();
  private final Map<String, Integer> weights = new ConcurrentHashMap<>();
  private final Set<String> tripped = ConcurrentHashMap.newKeySet();
  private final Map<String, Integer> capacityWeights = new ConcurrentHashMap<>();

  private static String member(String pool, String backend) {
    return pool + "/" + backend;
  }

  /** Whether the breaker has this pool member out of the load assignment. */
  public boolean tripped(String pool, String backend) {
    return tripped.contains(member(pool, backend));
  }

  void setTripped(String pool, String backend, boolean out) {
    if (out) {
      tripped.add(member(pool, backend));
    } else {
      tripped.remove(member(pool, backend));
    }
  }

  /**
   * The member's weight: the operator's, else the capacity weight the breaker reported, else
   * {@code configured}.
   */
  public int weight(String pool, String backend, int configured) {
    Integer operator = weights.get(backend);
    if (operator != null) {
      return operator;
    }
    return capacityWeights.getOrDefault(member(pool, backend), configured);
  }

  /** Returns whether the weight changed. */
  boolean setCapacityWeight(String pool, String backend, int weight) {
    Integer old = capacityWeights.put(member(pool, backend), weight);
    return old == null || old != weight;
  }

  public Map<String, Integer> capacityWeights() {
    return Map.copyOf(capacityWeights);
  }

  public boolean drained(String backend) {
    return drained.contains(backend);
  }

  /** The operator's weight for a backend, or {@code configured} when none was set. */
  public int weight(String backend, int configured) {
    return weights.getOrDefault(backend, configured);
  }

  public void drain(String backend) {
    drained.add(backend);
  }

  public void undrain(String backend) {
    drained.remove(backend);
  }

  public void setWeight(String backend, int weight) {
    weights.put(backend, weight);
  }

  public void clearWeight(String backend) {
    weights.remove(backend);
  }

  public Set<String> drainedBackends() {
    return Set.copyOf(drained);
  }

  public Map<String, Integer> weights() {
    return Map.copyOf(weights);
  }
}
