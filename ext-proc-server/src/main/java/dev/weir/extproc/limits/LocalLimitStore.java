package dev.weir.extproc.limits;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.Expiry;
import com.github.benmanes.caffeine.cache.Ticker;
import java.time.Duration;
import java.util.TreeMap;
import java.util.function.LongSupplier;

/**
 * Limit counters in this process: Caffeine-bounded (at most {@code maxKeys} keys, evicting the
 * least used) and expiring (a window 65 s after its last use, a counter at its period's end).
 * Each key's state is updated under its own lock.
 */
public final class LocalLimitStore implements LimitStore {
  private final Cache<String, Object> states;
  private final LongSupplier clockMillis;

  public LocalLimitStore(long maxKeys, LongSupplier clockMillis) {
    this(maxKeys, clockMillis, Ticker.systemTicker());
  }

  /** With {@code ticker} driving expiry, so a test can move time without waiting. */
  LocalLimitStore(long maxKeys, LongSupplier clockMillis, Ticker ticker) {
    this.clockMillis = clockMillis;
    this.states = Caffeine.newBuilder()
        .maximumSize(maxKeys)
        .ticker(ticker)
        .expireAfter(new Expiry<String, Object>() {
          @Override
          public long expireAfterCreate(String key, Object value, long currentTime) {
            return ttlNanos(value);
          }

          @Override
          public long expireAfterUpdate(String key, Object value, long currentTime, long currentDuration) {
            return ttlNanos(value);
          }

          @Override
          public long expireAfterRead(String key, Object value, long currentTime, long currentDuration) {
            return currentDuration;
          }
        })
        .build();
  }

  public LocalLimitStore() {
    this(1_000_000, System::currentTimeMillis);
  }

  private static long ttlNanos(Object value) {
    if (value instanceof CounterState c) {
      return Duration.ofSeconds(Math.max(1, c.ttlSeconds)).toNanos();
    }
    return Duration.ofSeconds(WINDOW_SECONDS + 5).toNanos();
  }

  private static final class WindowState {
    final TreeMap<Long, Long> buckets = new TreeMap<>();
  }

  private static final class CounterState {
    long used;
    long ttlSeconds;
  }

  @Override
  public Window reserveWindow(String key, long limit, long cost) {
    long now = nowMillis() / 1000;
    WindowState w = (WindowState) states.get("w:" + key, k -> new WindowState());
    synchronized (w) {
      // 61 one-second buckets: any real-time 60 s span touches at most 61 of them, so checking
      // all 61 keeps every such span within the limit.
      w.buckets.headMap(now - WINDOW_SECONDS - 1, true).clear();
      long sum = 0;
      for (long v : w.buckets.values()) {
        sum += v;
      }
      if (sum + cost <= limit) {
        w.buckets.merge(now, cost, Long::sum);
        states.put("w:" + key, w); // refresh expiry
        return new Window(true, limit - sum - cost, 0, now);
      }
      return new Window(false, Math.max(0, limit - sum), retryAfter(w.buckets, sum, cost, limit, now), now);
    }
  }

  /** Seconds until enough of the oldest buckets leave the window for {@code cost} to fit. */
  static long retryAfter(TreeMap<Long, Long> buckets, long sum, long cost, long limit, long now) {
    if (cost > limit) {
      return WINDOW_SECONDS; // can never fit; the caller says so
    }
    long need = sum + cost - limit;
    long freed = 0;
    for (var e : buckets.entrySet()) {
      freed += e.getValue();
      if (freed >= need) {
        return Math.max(1, e.getKey() + WINDOW_SECONDS + 1 - now);
      }
    }
    return WINDOW_SECONDS;
  }

  @Override
  public void adjustWindow(String key, long second, long delta) {
    long now = nowMillis() / 1000;
    WindowState w = (WindowState) states.get("w:" + key, k -> new WindowState());
    synchronized (w) {
      if (delta > 0) {
        w.buckets.merge(now, delta, Long::sum);
      } else if (second > now - WINDOW_SECONDS - 1) {
        w.buckets.merge(second, delta, Long::sum);
      }
    }
  }

  @Override
  public Counter reserveCounter(String key, long limit, long cost, long ttlSeconds) {
    CounterState c = (CounterState) states.get("c:" + key, k -> new CounterState());
    synchronized (c) {
      if (c.used + cost <= limit) {
        c.used += cost;
        c.ttlSeconds = ttlSeconds;
        states.put("c:" + key, c);
        return new Counter(true, limit - c.used);
      }
      return new Counter(false, Math.max(0, limit - c.used));
    }
  }

  @Override
  public void adjustCounter(String key, long delta, long ttlSeconds) {
    CounterState c = (CounterState) states.get("c:" + key, k -> new CounterState());
    synchronized (c) {
      c.used += delta;
      c.ttlSeconds = ttlSeconds;
      // The entry may have just been made with ttlSeconds 0 (an expiry of 1 s); only a put has
      // Caffeine compute the expiry again from the TTL now set.
      states.put("c:" + key, c);
    }
  }

  @Override
  public long windowUsed(String key) {
    WindowState w = (WindowState) states.getIfPresent("w:" + key);
    if (w == null) {
      return 0;
    }
    long now = nowMillis() / 1000;
    synchronized (w) {
      return w.buckets.tailMap(now - WINDOW_SECONDS - 1, false).values().stream().mapToLong(Long::longValue).sum();
    }
  }

  @Override
  public long counterUsed(String key) {
    CounterState c = (CounterState) states.getIfPresent("c:" + key);
    if (c == null) {
      return 0;
    }
    synchronized (c) {
      return c.used;
    }
  }

  @Override
  public long nowMillis() {
    return clockMillis.getAsLong();
  }
}
