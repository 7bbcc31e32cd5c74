package dev.weir.testkit;

import java.util.List;
import java.util.PriorityQueue;
import java.util.function.ToDoubleFunction;

/**
 * Envoy's earliest-deadline-first scheduler for weighted round robin and weighted least request,
 * from source/common/upstream/edf_scheduler.h: an entry added at weight w gets the deadline
 * current time + 1 / w; a pick takes the earliest deadline (ties in insertion order), moves the
 * clock to it and re-adds the entry with its weight at that moment (pickAndAdd).
 * {@link #createWithPicks} starts the schedule as if {@code picks} picks had already been made
 * (EdfScheduler::createWithPicks, called with the balancer's random seed).
 */
final class EdfScheduler<T> {
  private record Entry<T>(double deadline, long order, T item) {}

  private final PriorityQueue<Entry<T>> queue = new PriorityQueue<>((a, b) -> a.deadline() != b.deadline()
      ? Double.compare(a.deadline(), b.deadline()) : Long.compare(a.order(), b.order()));
  private double currentTime;
  private long orderOffset;

  void add(double weight, T item) {
    queue.add(new Entry<>(currentTime + 1.0 / weight, orderOffset++, item));
  }

  T pickAndAdd(ToDoubleFunction<T> weight) {
    Entry<T> e = queue.poll();
    if (e == null) {
      return null;
    }
    currentTime = e.deadline();
    add(weight.applyAsDouble(e.item()), e.item());
    return e.item();
  }

  /** EdfScheduler::createWithPicks: floor(P × w / W) picks per entry emulated at once, the rest made one by one. */
  static <T> EdfScheduler<T> createWithPicks(List<T> items, ToDoubleFunction<T> weight, long seed) {
    EdfScheduler<T> s = new EdfScheduler<>();
    if (items.isEmpty()) {
      return s;
    }
    long picks = (seed & 0xFFFFFFFFL) % 429_496_729L; // the seed as uint32_t picks, then % (UINT_MAX / 10)
    ToDoubleFunction<T> aug = t -> weight.applyAsDouble(t) + 1e-13;
    double sum = 0;
    for (T t : items) {
      sum += aug.applyAsDouble(t);
    }
    long picksSoFar = 0;
    double maxPickTime = 0;
    for (int i = 0; i < items.size(); i++) {
      double w = aug.applyAsDouble(items.get(i));
      long floor = (long) (w * picks / sum);
      if (floor > 0 && floor / w >= picks / sum) {
        floor--;
      }
      maxPickTime = Math.max(maxPickTime, floor / w);
      s.queue.add(new Entry<>((floor + 1) / w, i, items.get(i)));
      picksSoFar += floor;
    }
    s.currentTime = maxPickTime;
    s.orderOffset = items.size();
    while (picksSoFar < picks) {
      s.pickAndAdd(weight);
      picksSoFar++;
    }
    return s;
  }
}
