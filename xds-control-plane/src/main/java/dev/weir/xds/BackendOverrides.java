package dev.weir.xds;

import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Runtime changes an operator made through the admin API, applied on top of every config
 * version until undone: backends drained (no new requests) and backends re-weighted.
 */
public final class BackendOverrides {
  private final Set<String> drained = ConcurrentHashMap.newKeySet();
  private final Map<String, Integer> weights = new ConcurrentHashMap<>();

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
