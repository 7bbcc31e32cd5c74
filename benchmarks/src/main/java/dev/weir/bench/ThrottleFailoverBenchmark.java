package dev.weir.bench;

import dev.weir.config.ConfigLoader;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.extproc.breaker.Breakers;
import dev.weir.extproc.breaker.LocalTripStore;
import dev.weir.extproc.breaker.TripReporter;
import dev.weir.extproc.telemetry.GatewayMetrics;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.SplittableRandom;

/**
 * Throttle-aware failover, simulated: 10 minutes of traffic compressed into a discrete-event run
 * on a virtual clock. Two PTU deployments (priority 0, 600k and 300k tokens per minute) and one
 * pay-as-you-go deployment (priority 1, 300k) throttle like Azure OpenAI: a token bucket holding
 * 10 s of their rate, a 429 when it is short, with retry-after-ms (the wait until the request's
 * tokens are back, as PTUs send it) and Retry-After (the same in whole seconds, rounded up), or
 * Retry-After alone in the second table; x-ratelimit-remaining/limit-tokens on every answer. Load
 * swings between 60 % and 150 % of the PTUs' capacity, Poisson arrivals, 500-3,000 tokens per
 * request; the workload has its own random stream, so every mode of a seed gets the same requests.
 *
 * <p>Envoy is modelled by the rules Weir relies on (docs/failover.md): priority load from the
 * healthy share × 1.4, weighted choice within a level, panic (no healthy host: load by host count,
 * then the level not yet tried), num_retries 2 with previous_hosts and previous_priorities (cleared
 * once every level was tried), the default back-off (random below 25 ms, then 50 ms) and no wait
 * for Retry-After (the generated policy). The breaker is Weir's own {@link Breakers} on an
 * in-process store and the virtual clock, the router pass's {@link Breakers#admit} included. The
 * control plane is modelled as Trips works: one trip end per member (the latest), found by its
 * 250 ms timer, a recovery ending the trip at once; each change reaches Envoy 50 ms later.
 *
 * <p>Usage: {@code java -cp benchmarks.jar dev.weir.bench.ThrottleFailoverBenchmark [seeds]}
 */
public final class ThrottleFailoverBenchmark {
  private static final long MINUTES = 10;
  private static final long PUSH_MILLIS = 50;
  /** How often the control plane looks for trips that ended (Trips.expire). */
  private static final long EXPIRE_TICK_MILLIS = 250;
  private static final long THROTTLED_RTT_MILLIS = 40;

  private ThrottleFailoverBenchmark() {}

  /** What the gateway does; the breaker's rule in YAML, with the defaults for what it leaves out. */
  enum Mode {
    NO_BREAKER("no breaker", null),
    BREAKER_WHOLE_SECONDS("breaker, trips of 1 s at least", "minTripMillis: 1000"),
    BREAKER("breaker", ""),
    BREAKER_WITH_PROBES("breaker + all-tripped probe 250 ms", "allTrippedProbeMillis: 250"),
    BREAKER_WITH_CAPACITY_WEIGHTS("breaker + capacity weights", "capacityWeights: true");

    final String label;
    final String rule;

    Mode(String label, String rule) {
      this.label = label;
      this.rule = rule;
    }
  }

  /** What a 429 says about when to come back; the same in every mode. */
  enum Throttle {
    /** Azure OpenAI PTU: retry-after-ms (the wait for this request's tokens) and Retry-After. */
    MILLIS_AND_SECONDS,
    /** Retry-After alone, in whole seconds rounded up (an upper bound, as from many backends). */
    SECONDS_ONLY
  }

  /** A deployment that throttles like Azure OpenAI: a token bucket holding 10 s of its rate. */
  static final class Deployment {
    final String name;
    final int priority;
    final double perMilli;
    final double capacity;
    double tokens;
    long updated;
    boolean healthy = true;
    /** The control plane's trip end for this member, 0 when it is not tripped. */
    long tripUntil;
    int weight = 128;
    long servedTokens;

    Deployment(String name, int priority, long tokensPerMinute) {
      this.name = name;
      this.priority = priority;
      this.perMilli = tokensPerMinute / 60_000.0;
      this.capacity = perMilli * 10_000;
      this.tokens = capacity;
    }

    void refill(long now) {
      if (now > updated) {
        tokens = Math.min(capacity, tokens + (now - updated) * perMilli);
        updated = now;
      }
    }

    /** Serves the request (status 200) or throttles it (429 with Retry-After). */
    Map<String, String> answer(long now, int cost, int[] status, Throttle throttle) {
      refill(now);
      Map<String, String> h = new HashMap<>();
      h.put("x-ratelimit-limit-tokens", Long.toString((long) capacity));
      if (tokens >= cost) {
        tokens -= cost;
        servedTokens += cost;
        status[0] = 200;
      } else {
        status[0] = 429;
        double waitMillis = (cost - tokens) / perMilli;
        h.put("retry-after", Long.toString(Math.max(1, (long) Math.ceil(waitMillis / 1000))));
        if (throttle == Throttle.MILLIS_AND_SECONDS) {
          h.put("retry-after-ms", Long.toString(Math.max(1, (long) Math.ceil(waitMillis))));
        }
      }
      h.put("x-ratelimit-remaining-tokens", Long.toString((long) tokens));
      return h;
    }
  }

  /** Something the modelled control plane does at a time; equal times run in the order made. */
  record Event(long at, long sequence, Runnable action) {}



  /** One mode's results over one seed. */
  record Result(double clientThrottledShare, double wastedPerRequest, long[] addedMillis, double ptuUtilisation,
      long requests) {}

  static Result run(Mode mode, Throttle throttle, long seed) throws Exception {
    List<Deployment> all = List.of(new Deployment("ptu-a", 0, 600_000), new Deployment("ptu-b", 0, 300_000),
        new Deployment("paygo", 1, 300_000));
    Map<String, Deployment> byName = new HashMap<>();
    all.forEach(d -> byName.put(d.name, d));
    long[] now = {0};
    PriorityQueue<Event> events = new PriorityQueue<>(
        (a, b) -> a.at() != b.at() ? Long.compare(a.at(), b.at()) : Long.compare(a.sequence(), b.sequence()));
    long[] sequence = {0};
    // A change the control plane made at a time reaches Envoy PUSH_MILLIS later (the ADS push).
    java.util.function.BiConsumer<Long, Runnable> push =
        (at, change) -> events.add(new Event(at + PUSH_MILLIS, sequence[0]++, change));
    TripReporter controlPlane = new TripReporter() {
      // As Trips keeps them: one end per member, the latest, found by its timer every 250 ms; an
      // end or a recovery applies only to the trip it belongs to.
      @Override
      public void trip(String pool, String backend, long seconds, String reason) {
        tripMillis(pool, backend, seconds * 1000, reason);
      }

      @Override
      public void tripMillis(String pool, String backend, long millis, String reason) {
        Deployment d = byName.get(backend);
        long until = now[0] + millis;
        if (d.tripUntil >= until) {
          return;
        }
        d.tripUntil = until;
        push.accept(now[0], () -> d.healthy = false);
        long tick = (until + EXPIRE_TICK_MILLIS - 1) / EXPIRE_TICK_MILLIS * EXPIRE_TICK_MILLIS;
        events.add(new Event(tick, sequence[0]++, () -> {
          if (d.tripUntil == until) {
            d.tripUntil = 0;
            push.accept(tick, () -> d.healthy = true);
          }
        }));
      }

      @Override
      public void recover(String pool, String backend) {
        Deployment d = byName.get(backend);
        if (d.tripUntil != 0) {
          d.tripUntil = 0;
          push.accept(now[0], () -> d.healthy = true);
        }
      }

      @Override
      public void weight(String pool, String backend, int weight) {
        push.accept(now[0], () -> byName.get(backend).weight = weight);
      }
    };
    GatewayConfig config = new ConfigLoader(n -> "k", true).parse("""
        backends:
          - { name: ptu-a, provider: openai-compatible, url: "http://10.0.0.1:80" }
          - { name: ptu-b, provider: openai-compatible, url: "http://10.0.0.2:80" }
          - { name: paygo, provider: openai-compatible, url: "http://10.0.0.3:80" }
        pools:
          - name: p
            members: [ { backend: ptu-a }, { backend: ptu-b }, { backend: paygo, priority: 1 } ]
            breaker: { statuses: [ "429" ], acceptRetryAfter: true, maxTripSeconds: 60 %s }
        models: [ { name: m, pool: p } ]
        """.formatted(mode.rule == null || mode.rule.isEmpty() ? "" : ", " + mode.rule), "bench", null);
    LocalTripStore store = new LocalTripStore();
    store.clock(() -> now[0]);
    Breakers breakers = mode == Mode.NO_BREAKER ? null
        : new Breakers(config, store, controlPlane, new GatewayMetrics());
    // The workload (arrivals, sizes) has its own stream, so every mode of a seed sees the same
    // requests at the same times; Envoy's choices and back-offs draw from the other.
    SplittableRandom workload = new SplittableRandom(seed);
    SplittableRandom random = workload.split();
    long end = MINUTES * 60_000;
    long requests = 0;
    long throttledToClient = 0;
    long wasted = 0;
    List<Long> added = new ArrayList<>();
    double t = 0;
    while (true) {
      // Load: 60 % to 150 % of the PTUs' 15,000 tokens/s in three slow swings, in requests/s (at
      // the peaks it is more than PTUs and pay-as-you-go together can serve).
      double phase = t / end * 2 * Math.PI * 3;
      double load = 1.05 + 0.45 * Math.sin(phase);
      double perSecond = load * 15_000 / 1750;
      t += -Math.log(1 - workload.nextDouble()) * 1000 / perSecond;
      if (t >= end) {
        break;
      }
      long arrival = (long) t;
      now[0] = arrival;
      while (!events.isEmpty() && events.peek().at() <= arrival) {
        events.poll().action().run();
      }
      requests++;
      int cost = 500 + workload.nextInt(2501);
      boolean probe = false;
      if (breakers != null) {
        Breakers.Admission admission = breakers.admit("p");
        if (admission.refused() != null) {
          throttledToClient++;
          added.add(0L);
          continue;
        }
        probe = admission.probe();
      }
      long clock = arrival;
      java.util.Set<String> triedHosts = new java.util.HashSet<>();
      java.util.Set<Integer> triedLevels = new java.util.HashSet<>();
      int status = 0;
      for (int attempt = 0; attempt < 3; attempt++) {
        if (triedLevels.size() == 2) {
          triedLevels.clear(); // previous_priorities: every level excluded resets the exclusion
        }
        Deployment d = choose(all, triedHosts, triedLevels, random);
        triedHosts.add(d.name);
        triedLevels.add(d.priority);
        int[] s = new int[1];
        now[0] = clock;
        Map<String, String> headers = d.answer(clock, cost, s, throttle);
        status = s[0];
        if (breakers != null) {
          breakers.observe("p", d.name, status, headers, probe);
        }
        if (status == 200) {
          break;
        }
        wasted++;
        clock += THROTTLED_RTT_MILLIS + random.nextLong(Math.max(1, 25L << attempt));
      }
      if (status != 200) {
        throttledToClient++;
      }
      added.add(clock - arrival);
    }
    long ptuCapacity = (long) ((all.get(0).perMilli + all.get(1).perMilli) * end);
    long[] sorted = added.stream().mapToLong(Long::longValue).sorted().toArray();
    return new Result((double) throttledToClient / requests, (double) wasted / requests, sorted,
        (double) (all.get(0).servedTokens + all.get(1).servedTokens) / ptuCapacity, requests);
  }

  /** Envoy's priority load (healthy share × 1.4 per level) then a weighted pick in the level. */
  static Deployment choose(List<Deployment> all, java.util.Set<String> triedHosts, java.util.Set<Integer> triedLevels,
      SplittableRandom random) {
    double[] availability = new double[2];
    for (int p = 0; p < 2; p++) {
      int level = p;
      long hosts = all.stream().filter(d -> d.priority == level).count();
      long healthy = all.stream().filter(d -> d.priority == level && d.healthy).count();
      availability[p] = triedLevels.contains(p) ? 0 : Math.min(100, 100.0 * healthy / hosts * 1.4);
    }
    double total = availability[0] + availability[1];
    int level;
    if (total == 0) {
      // Every level in panic: load by host count (totalPanicLoad), among levels not excluded.
      long hosts0 = all.stream().filter(d -> d.priority == 0).count();
      level = triedLevels.contains(0) ? 1 : triedLevels.contains(1) ? 0
          : random.nextInt(all.size()) < hosts0 ? 0 : 1;
    } else {
      double p0 = Math.min(100, availability[0]);
      double share0 = total >= 100 ? p0 : p0 / total * 100;
      level = random.nextDouble() * 100 < share0 ? 0 : 1;
    }
    List<Deployment> candidates = all.stream().filter(d -> d.priority == level && d.healthy).toList();
    if (candidates.isEmpty()) {
      candidates = all.stream().filter(d -> d.priority == level).toList();
    }
    for (int pick = 0; pick < 6; pick++) {
      int sum = candidates.stream().mapToInt(d -> d.weight).sum();
      int r = random.nextInt(sum);
      for (Deployment d : candidates) {
        r -= d.weight;
        if (r < 0) {
          if (!triedHosts.contains(d.name) || pick == 5) {
            return d;
          }
          break;
        }
      }
    }
    return candidates.get(0);
  }

  public static void main(String[] args) throws Exception {
    int seeds = args.length > 0 ? Integer.parseInt(args[0]) : 31;
    System.out.printf(Locale.ROOT, "%d minutes simulated per run, %d seeds; medians over seeds%n", MINUTES, seeds);
    for (Throttle throttle : Throttle.values()) {
      System.out.printf(Locale.ROOT, "%nbackends' 429s carry: %s%n", throttle == Throttle.MILLIS_AND_SECONDS
          ? "retry-after-ms and Retry-After (Azure OpenAI PTU)" : "Retry-After only, whole seconds");
      System.out.printf(Locale.ROOT, "%-36s %9s %12s %12s %12s %12s %10s%n", "mode", "requests", "client 429 %",
          "wasted/req", "added p50 ms", "added p99 ms", "PTU use %");
      for (Mode mode : Mode.values()) {
        table(mode, throttle, seeds);
      }
    }
  }

  private static void table(Mode mode, Throttle throttle, int seeds) throws Exception {
    {
      double[] throttled = new double[seeds];
      double[] wasted = new double[seeds];
      double[] p50 = new double[seeds];
      double[] p99 = new double[seeds];
      double[] use = new double[seeds];
      long requests = 0;
      long started = System.nanoTime();
      for (int s = 0; s < seeds; s++) {
        Result r = run(mode, throttle, 42 + s);
        throttled[s] = r.clientThrottledShare() * 100;
        wasted[s] = r.wastedPerRequest();
        p50[s] = r.addedMillis()[r.addedMillis().length / 2];
        p99[s] = r.addedMillis()[(int) (r.addedMillis().length * 0.99)];
        use[s] = r.ptuUtilisation() * 100;
        requests += r.requests();
      }
      System.out.printf(Locale.ROOT, "%-36s %9d %12.2f %12.3f %12.0f %12.0f %10.1f   (%.1f s)%n",
          mode.label, requests / seeds, median(throttled), median(wasted),
          median(p50), median(p99), median(use), (System.nanoTime() - started) / 1e9);
    }
  }

  private static double median(double[] values) {
    double[] v = values.clone();
    Arrays.sort(v);
    return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  }
}
