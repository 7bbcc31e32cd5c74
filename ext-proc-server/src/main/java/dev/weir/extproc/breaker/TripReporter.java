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

  void recover(String pool, String backend);

  void weight(String pool, String backend, int weight);
}
