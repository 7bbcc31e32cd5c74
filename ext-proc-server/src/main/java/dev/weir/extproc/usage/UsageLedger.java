package dev.weir.extproc.usage;

import java.time.LocalDate;
import java.util.Map;

/**
 * Usage totals per day × consumer × model, for chargeback. Adding never blocks the caller (an
 * exchange's end) on I/O; reading may.
 */
public interface UsageLedger extends AutoCloseable {
  /** One day's totals of one consumer on one model. */
  record Key(LocalDate day, String consumer, String model) {}

  /** Adds one exchange's amounts to its day. */
  void add(Key key, UsageAmounts amounts);

  /** Every total from {@code from} to {@code to}, both days included. */
  Map<Key, UsageAmounts> read(LocalDate from, LocalDate to);

  /** True when the totals are shared by every replica (Redis). */
  boolean shared();

  @Override
  default void close() {}
}
