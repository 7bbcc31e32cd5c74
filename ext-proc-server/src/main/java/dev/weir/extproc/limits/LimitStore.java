package dev.weir.extproc.limits;

/**
 * Where limit counters live: in this process or in Redis. Every operation is atomic per key. Two
 * shapes: a sliding 60-second window of per-second buckets (tokens and requests per minute), and
 * a plain counter with an expiry (quotas and budgets for a calendar period).
 */
public interface LimitStore {
  int WINDOW_SECONDS = 60;

  /** Outcome of a window reservation; {@code second} is the bucket charged (store clock). */
  record Window(boolean admitted, long remaining, long retryAfterSeconds, long second) {}

  /** Outcome of a counter reservation. */
  record Counter(boolean admitted, long remaining) {}

  /**
   * Admits {@code cost} if the current and the previous 60 one-second buckets plus it stay within
   * {@code limit}: then no real-time 60-second span ever holds more than the limit.
   */
  Window reserveWindow(String key, long limit, long cost);

  /**
   * Corrects a window charge: a refund comes off the bucket it was charged to (if still in the
   * window), an extra charge goes on the current second.
   */
  void adjustWindow(String key, long second, long delta);

  /** Admits {@code cost} if the counter plus it stay within {@code limit}. */
  Counter reserveCounter(String key, long limit, long cost, long ttlSeconds);

  /** Adds {@code delta} (may be negative) to a counter. */
  void adjustCounter(String key, long delta, long ttlSeconds);

  /** What the window holds now (the current and the previous 60 buckets), without changing it. */
  long windowUsed(String key);

  /** The counter's value, without changing it; 0 when it does not exist. */
  long counterUsed(String key);

  /** The store's clock, epoch milliseconds: Redis's for the shared store, so replicas agree. */
  long nowMillis();

  /** The store cannot be reached (connection lost, timeout). */
  final class UnavailableException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public UnavailableException(String message, Throwable cause) {
      super(message, cause);
    }
  }
}
