package dev.weir.extproc.breaker;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;

/** Breaker state in this process, for a gateway without Redis (one ext-proc-server). */
public final class LocalTripStore implements TripStore {
  private record Window(long start, long count) {}

  private final Map<String, Window> counts = new ConcurrentHashMap<>();
  private final Map<String, Trip> trips = new ConcurrentHashMap<>();
  private final Map<String, Long> nextProbes = new ConcurrentHashMap<>();
  private volatile LongSupplier clock = System::currentTimeMillis;

  @Override
  public long count(String member, long intervalMillis) {
    long now = nowMillis();
    long start = now - Math.floorMod(now, Math.max(1, intervalMillis));
    return counts.compute(member, (k, w) -> w == null || w.start() != start ? new Window(start, 1)
        : new Window(start, w.count() + 1)).count();
  }

  @Override
  public TripResult trip(String member, long untilMillis, String reason) {
    long now = nowMillis();
    TripResult[] result = new TripResult[1];
    trips.compute(member, (k, old) -> {
      if (old == null || old.untilMillis() <= now) {
        result[0] = TripResult.OPENED;
      } else if (old.untilMillis() < untilMillis) {
        result[0] = TripResult.EXTENDED;
      } else {
        result[0] = TripResult.UNCHANGED;
        return old;
      }
      return new Trip(untilMillis, reason);
    });
    return result[0];
  }

  @Override
  public Trip get(String member) {
    return trips.get(member);
  }

  @Override
  public boolean clear(String member) {
    counts.remove(member);
    return trips.remove(member) != null;
  }

  @Override
  public boolean probe(String pool, long intervalMillis) {
    long now = nowMillis();
    boolean[] granted = new boolean[1];
    nextProbes.compute(pool, (k, next) -> {
      if (next == null || now >= next) {
        granted[0] = true;
        return now + intervalMillis;
      }
      return next;
    });
    return granted[0];
  }

  @Override
  public long nowMillis() {
    return clock.getAsLong();
  }

  @Override
  public void clock(LongSupplier millis) {
    this.clock = millis;
  }
}
