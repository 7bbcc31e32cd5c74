package dev.weir.xds;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The throttle-aware breaker's view in the control plane: which pool members are tripped (out of
 * their pool's load assignment on every Envoy, as UNHEALTHY endpoints) and until when, and which
 * are half-open (back in, their next answer deciding). ext-proc-server reports trips, recoveries
 * and capacity weights through the admin API; the control plane itself ends trips on time, so a
 * member comes back even if no report ever follows. Thread-safe: every change holds the
 * {@link AdsServer}'s lock, as the admin overrides do, and publishes a new snapshot.
 */
public final class Trips {
  private static final Logger audit = LoggerFactory.getLogger("weir.audit");

  /** One member's breaker state. */
  public record Trip(String pool, String backend, long untilMillis, String reason, boolean halfOpen) {}

  private final AdsServer ads;
  private final Map<String, Trip> trips = new TreeMap<>();
  private volatile LongSupplier clock = System::currentTimeMillis;

  Trips(AdsServer ads) {
    this.ads = ads;
  }

  /** Replaces the clock trips are timed by (tests compress time with it). */
  public void clock(LongSupplier millis) {
    this.clock = millis;
  }

  private static String key(String pool, String backend) {
    return pool + "/" + backend;
  }

  /**
   * Opens (or lengthens) a trip for {@code seconds} from now on this control plane's clock, so
   * replicas' clocks never have to agree. Returns whether the load assignment changed.
   */
  public boolean trip(String pool, String backend, long seconds, String reason, String caller) {
    return tripMillis(pool, backend, seconds * 1000, reason, caller);
  }

  /** As {@link #trip}, for {@code millis}: a PTU's retry-after-ms is often under a second. */
  public boolean tripMillis(String pool, String backend, long millis, String reason, String caller) {
    long seconds = (millis + 999) / 1000;
    synchronized (ads) {
      long until = clock.getAsLong() + millis;
      Trip old = trips.get(key(pool, backend));
      if (old != null && !old.halfOpen() && old.untilMillis() >= until) {
        return false;
      }
      trips.put(key(pool, backend), new Trip(pool, backend, until, reason, false));
      audit.info("breaker trip pool={} backend={} seconds={} reason=\"{}\" until={} from {}", pool, backend, seconds,
          reason, Instant.ofEpochMilli(until), caller);
      boolean changed = old == null || old.halfOpen();
      if (changed) {
        ads.overrides().setTripped(pool, backend, true);
        ads.publish(ads.config(), "breaker trip " + pool + "/" + backend);
      }
      return changed;
    }
  }

  /** The member answered its probe well: the breaker closes. */
  public boolean recover(String pool, String backend, String caller) {
    synchronized (ads) {
      Trip old = trips.remove(key(pool, backend));
      if (old == null) {
        return false;
      }
      audit.info("breaker recovered pool={} backend={} from {}", pool, backend, caller);
      if (!old.halfOpen()) {
        ads.overrides().setTripped(pool, backend, false);
        ads.publish(ads.config(), "breaker recovered " + pool + "/" + backend);
      }
      return true;
    }
  }

  /** A capacity weight (1-128) for a member; republishes only when it changed. */
  public boolean weight(String pool, String backend, int weight) {
    synchronized (ads) {
      if (!ads.overrides().setCapacityWeight(pool, backend, weight)) {
        return false;
      }
      ads.publish(ads.config(), "capacity weight " + pool + "/" + backend + "=" + weight);
      return true;
    }
  }

  /**
   * Ends the trips whose time is up: the member goes back into the load assignment, half-open.
   * Called every 250 ms by the server (and by tests after moving their clock).
   */
  public int expire() {
    synchronized (ads) {
      long now = clock.getAsLong();
      List<Trip> ended = new ArrayList<>();
      trips.replaceAll((k, t) -> {
        if (!t.halfOpen() && t.untilMillis() <= now) {
          ended.add(t);
          return new Trip(t.pool(), t.backend(), t.untilMillis(), t.reason(), true);
        }
        return t;
      });
      for (Trip t : ended) {
        audit.info("breaker half-open pool={} backend={}: trip ended, the next answer decides", t.pool(), t.backend());
        ads.overrides().setTripped(t.pool(), t.backend(), false);
      }
      if (!ended.isEmpty()) {
        ads.publish(ads.config(), "breaker half-open " + ended.stream().map(t -> key(t.pool(), t.backend())).toList());
      }
      return ended.size();
    }
  }

  /** Trips and half-open members now. */
  public List<Trip> current() {
    synchronized (ads) {
      return List.copyOf(trips.values());
    }
  }

  /** One line per member for /status. */
  String describe() {
    long now = clock.getAsLong();
    StringBuilder out = new StringBuilder();
    for (Trip t : current()) {
      out.append("  ").append(t.pool()).append('/').append(t.backend()).append(t.halfOpen()
          ? ": half-open (trip ended " + Instant.ofEpochMilli(t.untilMillis()) + "; next answer decides)"
          : ": tripped until " + Instant.ofEpochMilli(t.untilMillis()) + " (" + Math.max(0, (t.untilMillis() - now + 999) / 1000)
              + " s left)").append(", reason: ").append(t.reason()).append('\n');
    }
    return out.toString();
  }
}
