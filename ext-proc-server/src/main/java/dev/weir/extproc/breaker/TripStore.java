package dev.weir.extproc.breaker;

import java.util.function.LongSupplier;

/**
 * Where breaker state lives: counted answers per member in the current window, and trips. In
 * process ({@link LocalTripStore}) or in Redis ({@link RedisTripStore}), so every replica of
 * ext-proc-server sees the same trips. A member is "pool/backend". Implementations are thread-safe.
 */
public interface TripStore extends AutoCloseable {
  /** A trip: until when (epoch millis), and why. Past its end and not yet cleared, it is half-open. */
  record Trip(long untilMillis, String reason) {}

  /** What {@link #trip} did. */
  enum TripResult {
    /** The member was closed or half-open and is now tripped. */
    OPENED,
    /** It was tripped; the trip now ends later. */
    EXTENDED,
    /** It was already tripped for at least as long. */
    UNCHANGED
  }

  /**
   * Counts one counted answer from {@code member} in the fixed window of {@code intervalMillis}
   * that holds now; returns the count in that window, this one included.
   */
  long count(String member, long intervalMillis);

  /** Trips {@code member} until {@code untilMillis}, unless it already is for longer. */
  TripResult trip(String member, long untilMillis, String reason);

  /** The member's trip (open or half-open), or null when it is closed. */
  Trip get(String member);

  /** Closes the member's breaker; true for exactly one caller, the one that removed the trip. */
  boolean clear(String member);

  /**
   * Whether a request may go to {@code pool} as its probe while every member is tripped: true for
   * the first caller, then for one caller per {@code intervalMillis}.
   */
  boolean probe(String pool, long intervalMillis);

  /** Now, in epoch millis, on the clock trips are timed by. */
  long nowMillis();

  /** Replaces that clock (tests compress time with it). */
  void clock(LongSupplier millis);

  @Override
  default void close() {}
}
