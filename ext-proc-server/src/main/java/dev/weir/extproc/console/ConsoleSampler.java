package dev.weir.extproc.console;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.distribution.CountAtBucket;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Reads the gateway's own Micrometer registry (the numbers {@code /metrics} exports) and keeps
 * its totals every {@value #INTERVAL_SECONDS} s for the last {@value #POINTS} samples, so the
 * console charts rates and interval percentiles from the moment it opens. One daemon thread
 * samples; readers get immutable snapshots. Memory is fixed: the samples hold one entry per
 * configured backend and per latency bucket, nothing keyed by what clients send.
 */
public final class ConsoleSampler implements AutoCloseable {
  static final int INTERVAL_SECONDS = 5;
  static final int POINTS = 180;

  /**
   * Cumulative totals at one moment: exchanges by outcome group, by backend and group, tokens,
   * dollars, and the request-duration histogram (upper bound in milliseconds → cumulative count).
   */
  public record Totals(long epochMillis, Map<String, Long> groups, Map<String, Map<String, Long>> byBackend,
      double promptTokens, double completionTokens, double costUsd, TreeMap<Double, Double> latencyBuckets,
      double latencyCount) {
    public long requests() {
      return groups.values().stream().mapToLong(Long::longValue).sum();
    }

    long group(String g) {
      return groups.getOrDefault(g, 0L);
    }
  }

  private final MeterRegistry registry;
  private final ArrayDeque<Totals> samples = new ArrayDeque<>();
  private final ScheduledExecutorService timer;

  /** Samples on its own thread when {@code schedule}; tests call {@link #sample()} themselves. */
  public ConsoleSampler(MeterRegistry registry, boolean schedule) {
    this.registry = registry;
    this.timer = schedule ? Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "weir-console-sampler");
      t.setDaemon(true);
      return t;
    }) : null;
    sample();
    if (timer != null) {
      timer.scheduleAtFixedRate(this::sample, INTERVAL_SECONDS, INTERVAL_SECONDS, TimeUnit.SECONDS);
    }
  }

  /** Takes a sample now. */
  public void sample() {
    Totals t = read();
    synchronized (samples) {
      samples.addLast(t);
      while (samples.size() > POINTS + 1) {
        samples.removeFirst();
      }
    }
  }

  /** The samples kept, oldest first. */
  public List<Totals> samples() {
    synchronized (samples) {
      return new ArrayList<>(samples);
    }
  }

  /** The registry's totals now. */
  public Totals read() {
    Map<String, Long> groups = new HashMap<>();
    Map<String, Map<String, Long>> byBackend = new HashMap<>();
    for (Counter c : registry.find("weir.exchanges").counters()) {
      String group = Outcomes.group(c.getId().getTag("outcome"));
      long n = (long) c.count();
      groups.merge(group, n, Long::sum);
      String backend = c.getId().getTag("backend");
      if (backend != null && !backend.isEmpty()) {
        byBackend.computeIfAbsent(backend, b -> new HashMap<>()).merge(group, n, Long::sum);
      }
    }
    double prompt = sum(registry.find("weir.tokens").tag("type", "input").counters());
    double completion = sum(registry.find("weir.tokens").tag("type", "output").counters());
    double cost = sum(registry.find("weir.cost.usd").counters());
    TreeMap<Double, Double> buckets = new TreeMap<>();
    double count = 0;
    for (Timer t : registry.find("gen_ai.server.request.duration").timers()) {
      var snapshot = t.takeSnapshot();
      count += snapshot.count();
      for (CountAtBucket b : snapshot.histogramCounts()) {
        buckets.merge(b.bucket(TimeUnit.MILLISECONDS), b.count(), Double::sum);
      }
    }
    return new Totals(System.currentTimeMillis(), groups, byBackend, prompt, completion, cost, buckets, count);
  }

  private static double sum(java.util.Collection<Counter> counters) {
    return counters.stream().mapToDouble(Counter::count).sum();
  }

  /**
   * The {@code q} quantile (0..1), in milliseconds, of the durations recorded between two
   * samples, interpolated inside the histogram bucket it falls in; null when none were recorded.
   * Beyond the last bucket it is that bucket's bound (the histogram knows no more).
   */
  public static Double quantileMillis(Totals from, Totals to, double q) {
    double n = to.latencyCount() - (from == null ? 0 : from.latencyCount());
    if (n <= 0) {
      return null;
    }
    double target = q * n;
    double lowerBound = 0;
    double lowerCount = 0;
    for (var e : to.latencyBuckets().entrySet()) {
      double cumulative = e.getValue() - (from == null ? 0 : from.latencyBuckets().getOrDefault(e.getKey(), 0.0));
      if (cumulative >= target) {
        double inBucket = cumulative - lowerCount;
        double fraction = inBucket <= 0 ? 1 : (target - lowerCount) / inBucket;
        return lowerBound + (e.getKey() - lowerBound) * fraction;
      }
      lowerBound = e.getKey();
      lowerCount = cumulative;
    }
    return lowerBound;
  }

  @Override
  public void close() {
    if (timer != null) {
      timer.shutdownNow();
    }
  }
}
