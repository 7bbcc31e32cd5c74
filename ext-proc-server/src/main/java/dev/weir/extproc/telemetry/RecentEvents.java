package dev.weir.extproc.telemetry;

import dev.weir.events.v1.UsageEvent;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/**
 * The newest usage events of this replica, for {@code GET /events} and the console: a ring of
 * fixed capacity, so memory stays bounded whatever the traffic. Thread-safe (one short lock).
 */
public final class RecentEvents {
  /** The most events one read returns. */
  public static final int MAX_READ = 1000;
  private final ArrayDeque<UsageEvent> ring;
  private final int capacity;

  public RecentEvents(int capacity) {
    this.capacity = capacity;
    this.ring = new ArrayDeque<>(Math.max(1, capacity));
  }

  public int capacity() {
    return capacity;
  }

  public void add(UsageEvent event) {
    if (capacity == 0) {
      return;
    }
    synchronized (ring) {
      if (ring.size() == capacity) {
        ring.removeFirst();
      }
      ring.addLast(event);
    }
  }

  /**
   * Up to {@code limit} events, newest first, of {@code consumer} and with {@code outcome} when
   * those are not null.
   */
  public List<UsageEvent> newest(int limit, String consumer, String outcome) {
    int max = Math.max(0, Math.min(limit, MAX_READ));
    List<UsageEvent> out = new ArrayList<>(Math.min(max, 64));
    synchronized (ring) {
      Iterator<UsageEvent> it = ring.descendingIterator();
      while (it.hasNext() && out.size() < max) {
        UsageEvent e = it.next();
        if ((consumer == null || consumer.equals(e.getConsumer())) && (outcome == null || outcome.equals(e.getOutcome()))) {
          out.add(e);
        }
      }
    }
    return out;
  }

  /** A ring of {@code newCapacity} holding the newest of these events. */
  public RecentEvents resized(int newCapacity) {
    RecentEvents next = new RecentEvents(newCapacity);
    synchronized (ring) {
      ring.forEach(next::add);
    }
    return next;
  }
}
