package dev.weir.extproc.breaker;

/**
 * Tells the control plane what the breaker decided, so it can take a member out of (or put it back
 * into) its pool's load assignment on every Envoy. Calls must not block the exchange.
 */
public interface TripReporter {
  /** Nobody to tell (no admin token configured). */
  TripReporter NONE = new TripReporter() {
    @Override
    public void trip(String pool, String backend, long seconds, String reason) {}

    @Override
    public void recover(String pool, String backend) {}

    @Override
    public void weight(String pool, String backend, int weight) {}
  };

  void trip(String pool, String backend, long seconds, String reason);

  /**
   * A trip of {@code millis}; by default reported in whole seconds, rounded up, for a reporter that
   * knows no finer unit.
   */
  default void tripMillis(String pool, String backend, long millis, String reason) {
    trip(pool, backend, (millis + 999) / 1000, reason);
  }

  void recover(String pool, String backend);

  void weight(String pool, String backend, int weight);
}
