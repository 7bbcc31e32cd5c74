package dev.weir.extproc.safety.scanners;

import java.util.function.LongSupplier;

/**
 * A scanner's circuit: after {@code failures} consecutive failed calls it opens, and calls are not
 * made for {@code openNanos}; then one trial call goes through, and its outcome closes or reopens
 * it. Thread-safe (synchronized: a few field updates per call).
 */
final class CircuitBreaker {
  /** The circuit's state, as metrics and tests see it. */
  enum State { CLOSED, OPEN, HALF_OPEN }

  private final int failures;
  private final long openNanos;
  private final LongSupplier nanoTime;
  private int consecutive;
  private long openUntil;
  private boolean trialInFlight;

  CircuitBreaker(int failures, long openNanos, LongSupplier nanoTime) {
    this.failures = Math.max(1, failures);
    this.openNanos = openNanos;
    this.nanoTime = nanoTime;
  }

  /** True when a call may be made now; a true answer in HALF_OPEN is the one trial call. */
  synchronized boolean allow() {
    if (consecutive < failures) {
      return true;
    }
    if (nanoTime.getAsLong() - openUntil < 0 || trialInFlight) {
      return false;
    }
    trialInFlight = true;
    return true;
  }

  synchronized void succeeded() {
    consecutive = 0;
    trialInFlight = false;
  }

  synchronized void failed() {
    trialInFlight = false;
    consecutive++;
    if (consecutive >= failures) {
      openUntil = nanoTime.getAsLong() + openNanos;
    }
  }

  synchronized State state() {
    if (consecutive < failures) {
      return State.CLOSED;
    }
    return nanoTime.getAsLong() - openUntil < 0 ? State.OPEN : State.HALF_OPEN;
  }
}
