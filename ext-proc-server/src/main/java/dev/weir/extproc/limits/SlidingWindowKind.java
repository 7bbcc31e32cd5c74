package dev.weir.extproc.limits;

import java.util.Map;

/**
 * The counting shared by the per-minute kinds: a sliding 60-second window of one-second buckets
 * in the store, keyed {@code <limit>|<key value>|<suffix>}.
 */
abstract class SlidingWindowKind implements LimitKind {
  private final long ceiling;
  private final String suffix;
  private final String limitHeader;
  private final String remainingHeader;

  SlidingWindowKind(long ceiling, String suffix, String limitHeader, String remainingHeader) {
    this.ceiling = ceiling;
    this.suffix = suffix;
    this.limitHeader = limitHeader;
    this.remainingHeader = remainingHeader;
  }

  @Override
  public long ceiling() {
    return ceiling;
  }

  @Override
  public Taken take(LimitStore store, String counter, long amount) {
    String key = counter + "|" + suffix;
    LimitStore.Window w = store.reserveWindow(key, ceiling, amount);
    return new Taken(w.admitted(), w.remaining(), w.retryAfterSeconds(), key, w.second(), 0);
  }

  @Override
  public long standing(LimitStore store, String counter) {
    return store.windowUsed(counter + "|" + suffix);
  }

  @Override
  public String span() {
    return "minute";
  }

  @Override
  public void adjust(LimitStore store, Taken taken, long delta) {
    store.adjustWindow(taken.key(), taken.second(), delta);
  }

  @Override
  public void report(Map<String, String> headers, long remaining) {
    String shown = headers.get(remainingHeader);
    if (shown == null || remaining < Long.parseLong(shown)) {
      headers.put(limitHeader, Long.toString(ceiling));
      headers.put(remainingHeader, Long.toString(remaining));
    }
  }
}
