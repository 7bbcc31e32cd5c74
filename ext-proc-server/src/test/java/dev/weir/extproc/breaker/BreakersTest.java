package dev.weir.extproc.breaker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.ConfigLoader;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.extproc.telemetry.GatewayMetrics;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The breaker's rules on an in-process store and a fake clock. */
class BreakersTest {
  private final AtomicLong now = new AtomicLong(1_000_000_000L);
  private final List<String> reports = new ArrayList<>();
  private final GatewayMetrics metrics = new GatewayMetrics();
  private final LocalTripStore store = new LocalTripStore();

  private final TripReporter reporter = new TripReporter() {
    @Override
    public void trip(String pool, String backend, long seconds, String reason) {
      reports.add("trip " + backend + " " + seconds + " s (" + reason + ")");
    }

    @Override
    public void recover(String pool, String backend) {
      reports.add("recover " + backend);
    }

    @Override
    public void weight(String pool, String backend, int weight) {
      reports.add("weight " + backend + " " + weight);
    }
  };

  private Breakers breakers(String rule) throws Exception {
    GatewayConfig config = new ConfigLoader(name -> "k", true).parse("""
        backends:
          - { name: a, provider: openai-compatible, url: "http://10.0.0.1:80" }
          - { name: b, provider: openai-compatible, url: "http://10.0.0.2:80" }
        pools:
          - name: p
            members: [ { backend: a }, { backend: b, priority: 1 } ]
            breaker: %s
        models: [ { name: m, pool: p } ]
        """.formatted(rule), "test", null);
    store.clock(now::get);
    return new Breakers(config, store, reporter, metrics);
  }

  private static Map<String, String> retryAfter(String seconds) {
    return Map.of("retry-after", seconds);
  }

  @Test
  void countedAnswersTripOnlyWhenEnoughArriveWithinTheInterval() throws Exception {
    Breakers b = breakers("{ count: 3, intervalSeconds: 10, tripSeconds: 30 }");
    b.observe("p", "a", 503, Map.of());
    b.observe("p", "a", 503, Map.of());
    now.addAndGet(10_000); // a new window: the two above no longer count
    b.observe("p", "a", 503, Map.of());
    b.observe("p", "a", 200, Map.of());
    b.observe("p", "a", 400, Map.of());
    assertTrue(reports.isEmpty(), reports.toString());
    b.observe("p", "a", 500, Map.of());
    b.observe("p", "a", 429, Map.of());
    assertEquals(List.of("trip a 30 s (status 429, 3 in 10 s)"), reports);
  }

  @Test
  void withAcceptRetryAfterTheTripLastsAsLongAsTheBackendSaidBoundedByMaxTripSeconds() throws Exception {
    Breakers b = breakers("{ acceptRetryAfter: true, tripSeconds: 30, maxTripSeconds: 60 }");
    b.observe("p", "a", 429, retryAfter("20"));
    assertEquals(now.get() + 20_000, store.get("p/a").untilMillis());
    b.observe("p", "b", 429, retryAfter("3600"));
    assertEquals(now.get() + 60_000, store.get("p/b").untilMillis(), "bounded by maxTripSeconds");
    store.clear("p/a");
    b.observe("p", "a", 429, Map.of("x-ratelimit-reset-requests", "1s", "x-ratelimit-reset-tokens", "6m0s"));
    assertEquals(now.get() + 60_000, store.get("p/a").untilMillis(), "the longer reset header, bounded");
  }

  @Test
  void withoutAcceptRetryAfterTheTripLastsTripSeconds() throws Exception {
    Breakers b = breakers("{ tripSeconds: 30 }");
    b.observe("p", "a", 429, retryAfter("5"));
    assertEquals(now.get() + 30_000, store.get("p/a").untilMillis());
  }

  @Test
  void statusesOutsideTheRuleDoNotCount() throws Exception {
    Breakers b = breakers("{ statuses: [ \"429\" ] }");
    b.observe("p", "a", 503, Map.of());
    assertNull(store.get("p/a"));
    b.observe("p", "a", 429, Map.of());
    assertTrue(store.get("p/a") != null);
  }

  @Test
  void afterTheTripTheFirstGoodAnswerClosesTheBreakerAndIsReportedOnce() throws Exception {
    Breakers b = breakers("{ acceptRetryAfter: true }");
    b.observe("p", "a", 429, retryAfter("20"));
    b.observe("p", "a", 200, Map.of());
    assertTrue(store.get("p/a") != null, "a good answer during the trip (a request already in flight) changes nothing");
    now.addAndGet(20_000);
    b.observe("p", "a", 200, Map.of());
    b.observe("p", "a", 200, Map.of());
    assertNull(store.get("p/a"));
    assertEquals(List.of("trip a 20 s (status 429, backend said 20 s)", "recover a"), reports);
  }

  @Test
  void aThrottledProbeTripsAgainAtOnceWhateverTheCount() throws Exception {
    Breakers b = breakers("{ count: 5, acceptRetryAfter: true }");
    for (int i = 0; i < 5; i++) {
      b.observe("p", "a", 429, retryAfter("10"));
    }
    now.addAndGet(10_000);
    b.observe("p", "a", 429, retryAfter("7"));
    assertEquals(now.get() + 7_000, store.get("p/a").untilMillis());
    assertTrue(reports.get(reports.size() - 1).endsWith("(status 429, backend said 7 s, probe failed)"), reports.toString());
    assertTrue(metrics.scrape().contains("event=\"probe_failed\""));
  }

  @Test
  void aLongerTripExtendsAShorterNeverShortensIt() throws Exception {
    Breakers b = breakers("{ acceptRetryAfter: true }");
    b.observe("p", "a", 429, retryAfter("20"));
    b.observe("p", "a", 429, retryAfter("5"));
    assertEquals(now.get() + 20_000, store.get("p/a").untilMillis());
    b.observe("p", "a", 429, retryAfter("40"));
    assertEquals(now.get() + 40_000, store.get("p/a").untilMillis());
    assertEquals(2, reports.size(), "the unchanged trip is not reported: " + reports);
  }

  @Test
  void whenEveryMemberIsTrippedTheAnswerCarriesTheSoonestEnd() throws Exception {
    Breakers b = breakers("{ acceptRetryAfter: true }");
    b.observe("p", "a", 429, retryAfter("20"));
    assertNull(b.allTripped("p"), "b can still serve");
    b.observe("p", "b", 429, retryAfter("5"));
    assertEquals(new Breakers.AllTripped(429, 5), b.allTripped("p"));
    now.addAndGet(4_500);
    assertEquals(1, b.allTripped("p").retryAfterSeconds(), "rounded up");
    now.addAndGet(500);
    assertNull(b.allTripped("p"), "b is half-open: its probe may go");
  }

  @Test
  void aRetryAfterMsUnderASecondTripsForThatLongAtLeastMinTripMillis() throws Exception {
    Breakers b = breakers("{ acceptRetryAfter: true }");
    b.observe("p", "a", 429, Map.of("retry-after-ms", "300", "retry-after", "1"));
    assertEquals(now.get() + 300, store.get("p/a").untilMillis(), "not the whole second Retry-After rounds up to");
    b.observe("p", "b", 429, Map.of("retry-after-ms", "20", "retry-after", "1"));
    assertEquals(now.get() + 100, store.get("p/b").untilMillis(), "minTripMillis defaults to 100");
    assertEquals("trip a 1 s (status 429, backend said 300 ms)", reports.get(0),
        "a reporter that knows only seconds is told the whole second");
  }

  @Test
  void minTripMillisOf1000KeepsWholeSecondTrips() throws Exception {
    Breakers b = breakers("{ acceptRetryAfter: true, minTripMillis: 1000 }");
    b.observe("p", "a", 429, Map.of("retry-after-ms", "300", "retry-after", "1"));
    assertEquals(now.get() + 1000, store.get("p/a").untilMillis());
  }

  @Test
  void tripsAreReportedInMillisecondsToAReporterThatTakesThem() throws Exception {
    List<String> millis = new ArrayList<>();
    GatewayConfig config = new ConfigLoader(name -> "k", true).parse("""
        backends: [ { name: a, provider: openai-compatible, url: "http://10.0.0.1:80" } ]
        pools: [ { name: p, members: [ { backend: a } ], breaker: { acceptRetryAfter: true } } ]
        models: [ { name: m, pool: p } ]
        """, "test", null);
    store.clock(now::get);
    Breakers b = new Breakers(config, store, new TripReporter() {
      @Override
      public void trip(String pool, String backend, long seconds, String reason) {
        millis.add("seconds " + seconds);
      }

      @Override
      public void tripMillis(String pool, String backend, long ms, String reason) {
        millis.add(ms + " ms");
      }

      @Override
      public void recover(String pool, String backend) {}

      @Override
      public void weight(String pool, String backend, int weight) {}
    }, metrics);
    b.observe("p", "a", 429, Map.of("retry-after-ms", "450", "retry-after", "1"));
    assertEquals(List.of("450 ms"), millis);
  }

  @Test
  void withoutAProbeIntervalEveryRequestIsRefusedWhileAllAreTripped() throws Exception {
    Breakers b = breakers("{ acceptRetryAfter: true }");
    b.observe("p", "a", 429, retryAfter("20"));
    assertEquals(Breakers.Admission.SEND, b.admit("p"));
    b.observe("p", "b", 429, retryAfter("5"));
    for (int i = 0; i < 10; i++) {
      assertEquals(new Breakers.AllTripped(429, 5), b.admit("p").refused());
      now.addAndGet(100);
    }
  }

  @Test
  void whileAllAreTrippedOneRequestPerProbeIntervalGoesThroughAsTheProbe() throws Exception {
    Breakers b = breakers("{ acceptRetryAfter: true, allTrippedProbeMillis: 1000 }");
    b.observe("p", "a", 429, retryAfter("20"));
    b.observe("p", "b", 429, retryAfter("5"));
    assertEquals(Breakers.Admission.PROBE, b.admit("p"), "the first request of the spell");
    assertEquals(new Breakers.AllTripped(429, 5), b.admit("p").refused());
    now.addAndGet(999);
    assertEquals(new Breakers.AllTripped(429, 5), b.admit("p").refused(), "rounded up: 4.001 s left");
    now.addAndGet(1);
    assertEquals(Breakers.Admission.PROBE, b.admit("p"));
    assertTrue(b.admit("p").refused() != null);
    assertTrue(metrics.scrape().contains("event=\"probe\""), metrics.scrape());
  }

  @Test
  void aProbesGoodAnswerEndsItsMembersTripEarlyAndTheNextRequestIsSent() throws Exception {
    Breakers b = breakers("{ acceptRetryAfter: true, allTrippedProbeMillis: 1000 }");
    b.observe("p", "a", 429, retryAfter("20"));
    b.observe("p", "b", 429, retryAfter("20"));
    assertTrue(b.admit("p").probe());
    b.observe("p", "a", 429, retryAfter("3"), true);
    assertEquals(now.get() + 20_000, store.get("p/a").untilMillis(), "a throttled probe keeps the longer trip");
    b.observe("p", "b", 200, Map.of(), true);
    assertNull(store.get("p/b"), "the probe's retry reached b, which answered");
    assertEquals("recover b", reports.get(reports.size() - 1));
    assertEquals(Breakers.Admission.SEND, b.admit("p"));
    b.observe("p", "a", 200, Map.of(), false);
    assertTrue(store.get("p/a") != null, "an answer that is not a probe's says nothing during a trip");
  }

  @Test
  void theAllTrippedStatusIsConfigurable() throws Exception {
    Breakers b = breakers("{ allTrippedStatus: 503 }");
    b.observe("p", "a", 500, Map.of());
    b.observe("p", "b", 500, Map.of());
    assertEquals(503, b.allTripped("p").status());
  }

  @Test
  void capacityWeightsAreReportedOnlyWhenTheyChange() throws Exception {
    Breakers b = breakers("{ capacityWeights: true }");
    Map<String, String> half = Map.of("x-ratelimit-remaining-tokens", "5000", "x-ratelimit-limit-tokens", "10000");
    b.observe("p", "a", 200, half);
    b.observe("p", "a", 200, Map.of("x-ratelimit-remaining-tokens", "4900", "x-ratelimit-limit-tokens", "10000"));
    b.observe("p", "a", 200, Map.of("x-ratelimit-remaining-tokens", "1000", "x-ratelimit-limit-tokens", "10000",
        "x-ratelimit-remaining-requests", "90", "x-ratelimit-limit-requests", "100"));
    assertEquals(List.of("weight a 64", "weight a 16"), reports);
  }

  @Test
  void anUnreachableRedisFailsOpenNothingTripsAndNothingIsRefused() throws Exception {
    RedisTripStore down = new RedisTripStore(dev.weir.config.v1.RedisSettings.newBuilder()
        .setUri("redis://127.0.0.1:" + dev.weir.testkit.RedisServerProcess.freePort()).setTimeoutMillis(200).build());
    Breakers b = new Breakers(new ConfigLoader(name -> "k", true).parse("""
        backends: [ { name: a, provider: openai-compatible, url: "http://10.0.0.1:80" } ]
        pools: [ { name: p, members: [ { backend: a } ], breaker: {} } ]
        models: [ { name: m, pool: p } ]
        """, "test", null), down, reporter, metrics);
    b.observe("p", "a", 429, retryAfter("20"));
    assertNull(b.allTripped("p"));
    assertTrue(reports.isEmpty());
    assertTrue(metrics.scrape().contains("event=\"store_error\""));
    down.close();
  }

  @Test
  void resetHeadersParseAsOpenAiAndAzureWriteThem() throws Exception {
    assertEquals(OptionalLong.of(360_000), TripHeaders.duration("6m0s"));
    assertEquals(OptionalLong.of(20), TripHeaders.duration("20ms"));
    assertEquals(OptionalLong.of(3_723_500), TripHeaders.duration("1h2m3.5s"));
    assertEquals(OptionalLong.of(7_000), TripHeaders.duration("7"));
    assertEquals(OptionalLong.empty(), TripHeaders.duration("soon"));
    assertEquals(OptionalLong.of(1_500), TripHeaders.millis(Map.of("retry-after-ms", "1500", "retry-after", "2"), 0));
    assertEquals(OptionalLong.of(30_000), TripHeaders.millis(Map.of("retry-after", "Thu, 01 Jan 1970 00:00:30 GMT"), 0));
    assertEquals(OptionalLong.empty(), TripHeaders.millis(Map.of("retry-after", "-1"), 0));
  }

  @Test
  void capacityWeightIsTheSmallerRemainingShareInSixteenthsOf128() throws Exception {
    assertEquals(128, CapacityWeights.weight(Map.of("x-ratelimit-remaining-tokens", "10", "x-ratelimit-limit-tokens", "10")));
    assertEquals(1, CapacityWeights.weight(Map.of("x-ratelimit-remaining-tokens", "0", "x-ratelimit-limit-tokens", "10")));
    assertNull(CapacityWeights.weight(Map.of("x-ratelimit-remaining-tokens", "5")));
  }
}
