package dev.weir.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.UInt32Value;
import com.google.protobuf.util.Durations;
import io.envoyproxy.envoy.config.cluster.v3.CircuitBreakers;
import io.envoyproxy.envoy.config.cluster.v3.OutlierDetection;
import io.envoyproxy.envoy.config.route.v3.RetryPolicy;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Circuit breakers (conn_pool_base.cc, retry_state_impl.cc) and outlier detection
 * (outlier_detection_impl.cc) act on the settings the control plane generates.
 */
class CircuitBreakerAndOutlierTest {
  private static final ExchangeRequest CHAT = ExchangeRequest.post("/v1/chat/completions", "{\"model\":\"m\"}");
  private final ScriptedUpstream a = upstream("a");
  private final ScriptedUpstream b = upstream("b");

  private static ScriptedUpstream upstream(String name) {
    try {
      return new ScriptedUpstream(name);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  @AfterEach
  void stop() {
    a.close();
    b.close();
  }

  private static CircuitBreakers breakers(CircuitBreakers.Thresholds.Builder t) {
    return CircuitBreakers.newBuilder().addThresholds(t).build();
  }

  @Test
  void aRequestOverMaxRequestsGets503WithXEnvoyOverloadedAndIsNotRetried() throws Exception {
    a.enqueue(new ScriptedUpstream.Slow(java.time.Duration.ofMillis(800)));
    try (TestEnvoy envoy = Clusters.envoy(Clusters.cluster(List.of(List.of(a)))
            .setCircuitBreakers(breakers(CircuitBreakers.Thresholds.newBuilder().setMaxRequests(UInt32Value.of(1)))),
        RouteAction.newBuilder().setRetryPolicy(RetryPolicy.newBuilder().setRetryOn("5xx,reset")))) {
      CompletableFuture<ExchangeResponse> first = CompletableFuture.supplyAsync(() -> envoy.send(CHAT));
      while (a.received().isEmpty()) {
        Thread.sleep(10);
      }
      ExchangeResponse second = envoy.send(CHAT);
      assertEquals(503, second.status(), second.trace().toString());
      assertEquals("true", second.header("x-envoy-overloaded"));
      assertEquals(1, envoy.stats().upstreamOverflows.get());
      assertEquals(0, envoy.stats().retries.get());
      assertEquals(200, first.get().status());
    }
  }

  @Test
  void aRetryOverMaxRetriesIsNotMadeAndTheUpstreamAnswerStands() {
    a.enqueue(ScriptedUpstream.status(503));
    try (TestEnvoy envoy = Clusters.envoy(Clusters.cluster(List.of(List.of(a)))
            .setCircuitBreakers(breakers(CircuitBreakers.Thresholds.newBuilder().setMaxRetries(UInt32Value.of(0)))),
        RouteAction.newBuilder().setRetryPolicy(RetryPolicy.newBuilder().setRetryOn("5xx")))) {
      ExchangeResponse r = envoy.send(CHAT);
      assertEquals(503, r.status());
      assertEquals(1, envoy.stats().retryOverflows.get());
      assertEquals(1, a.received().size());
    }
  }

  private TestEnvoy ejecting(OutlierDetection.Builder od) {
    return Clusters.envoy(Clusters.cluster(List.of(List.of(a, b))).setOutlierDetection(od), RouteAction.newBuilder());
  }

  @Test
  void consecutive5xxEjectAHostAndTrafficGoesToTheOthers() {
    a.fallback(ScriptedUpstream.status(500));
    try (TestEnvoy envoy = ejecting(OutlierDetection.newBuilder().setConsecutive5Xx(UInt32Value.of(2))
        .setMaxEjectionPercent(UInt32Value.of(50)))) {
      for (int i = 0; i < 4; i++) {
        envoy.send(CHAT);
      }
      assertTrue(envoy.ejected("c", "127.0.0.1", a.port()));
      assertEquals(30_000, envoy.ejectionMillis("c", "127.0.0.1", a.port()), "base_ejection_time defaults to 30 s");
      int before = b.received().size();
      for (int i = 0; i < 4; i++) {
        assertEquals(200, envoy.send(CHAT).status());
      }
      assertEquals(before + 4, b.received().size());
    }
  }

  @Test
  void gatewayFailuresEjectOnlyWhenEnforcedAndOtherCodesResetTheCount() {
    a.fallback(ScriptedUpstream.status(503));
    OutlierDetection.Builder od = OutlierDetection.newBuilder().setConsecutive5Xx(UInt32Value.of(100))
        .setConsecutiveGatewayFailure(UInt32Value.of(2)).setMaxEjectionPercent(UInt32Value.of(50));
    try (TestEnvoy envoy = ejecting(od.clone())) {
      for (int i = 0; i < 4; i++) {
        envoy.send(CHAT);
      }
      assertFalse(envoy.ejected("c", "127.0.0.1", a.port()), "enforcing_consecutive_gateway_failure defaults to 0");
    }
    try (TestEnvoy envoy = ejecting(od.clone().setEnforcingConsecutiveGatewayFailure(UInt32Value.of(100)))) {
      for (int i = 0; i < 4; i++) {
        envoy.send(CHAT);
      }
      assertTrue(envoy.ejected("c", "127.0.0.1", a.port()));
    }
  }

  /** A detector on a clock the test moves: interval 1 s, base ejection 10 s, max 25 s. */
  private static final class Clocked {
    final long[] now = {0};
    final EnvoyStats stats = new EnvoyStats();
    final OutlierDetector detector;

    Clocked(OutlierDetection.Builder config) {
      detector = new OutlierDetector(true, config.setInterval(Durations.fromSeconds(1))
          .setBaseEjectionTime(Durations.fromSeconds(10)).setMaxEjectionTime(Durations.fromSeconds(25)).build(), () -> now[0]);
    }

    void fail(String host, int times) {
      for (int i = 0; i < times; i++) {
        detector.putHttpResponseCode(host, 500, 2, stats);
      }
    }

    /** Moves the clock second by second until the host is back; returns how long that took. */
    long secondsUntilBack(String host) {
      long start = now[0];
      while (detector.ejected(host)) {
        now[0] += 1000;
      }
      return (now[0] - start) / 1000;
    }
  }

  @Test
  void ejectionsGrowLongerWhileAHostKeepsFailingUpToTheMaximum() {
    Clocked c = new Clocked(OutlierDetection.newBuilder().setConsecutive5Xx(UInt32Value.of(1))
        .setMaxEjectionPercent(UInt32Value.of(50)));
    c.fail("a", 1);
    assertEquals(10_000, c.detector.ejectionMillis("a"));
    assertEquals(10, c.secondsUntilBack("a"));
    c.fail("a", 1);
    assertEquals(20_000, c.detector.ejectionMillis("a"), "base x multiplier 2");
    assertEquals(20, c.secondsUntilBack("a"));
    c.fail("a", 1);
    assertEquals(25_000, c.detector.ejectionMillis("a"), "capped by max_ejection_time");
  }

  @Test
  void everyHealthyIntervalLowersTheEjectionMultiplierAgain() {
    Clocked c = new Clocked(OutlierDetection.newBuilder().setConsecutive5Xx(UInt32Value.of(1))
        .setMaxEjectionPercent(UInt32Value.of(50)));
    c.fail("a", 1);
    c.secondsUntilBack("a");
    c.fail("a", 1);
    c.secondsUntilBack("a");
    c.now[0] += 1500; // one interval tick while the host is in service: multiplier 2 -> 1
    c.fail("a", 1);
    assertEquals(20_000, c.detector.ejectionMillis("a"), "2 - 1 + 1: not the 30 s a count of ejections would give");
  }

  @Test
  void anEjectionNeedsTheCountToReachTheThresholdExactlyAndAnUnejectedHostStartsAfresh() {
    Clocked c = new Clocked(OutlierDetection.newBuilder().setConsecutive5Xx(UInt32Value.of(3))
        .setMaxEjectionPercent(UInt32Value.of(50)));
    c.fail("a", 2);
    assertFalse(c.detector.ejected("a"));
    c.detector.putHttpResponseCode("a", 200, 2, c.stats);
    c.fail("a", 2);
    assertFalse(c.detector.ejected("a"), "a success reset the count");
    c.fail("a", 1);
    assertTrue(c.detector.ejected("a"));
    c.secondsUntilBack("a");
    c.fail("a", 2);
    assertFalse(c.detector.ejected("a"), "counts are reset when the host returns");
  }

  @Test
  void theLimitCountsTheHostAboutToBeEjectedUnlessOneHostMayAlwaysGo() {
    // Three hosts, 50 %: the first ejection makes 33 %, a second would make 67 %.
    Clocked c = new Clocked(OutlierDetection.newBuilder().setConsecutive5Xx(UInt32Value.of(1))
        .setMaxEjectionPercent(UInt32Value.of(50)));
    assertTrue(c.detector.putHttpResponseCode("a", 500, 3, c.stats));
    assertFalse(c.detector.putHttpResponseCode("b", 500, 3, c.stats));
    assertEquals(1, c.stats.ejectionsOverflow.get());
    // Two hosts, 10 %: one ejection would already be 50 %; always_eject_one_host allows it.
    Clocked small = new Clocked(OutlierDetection.newBuilder().setConsecutive5Xx(UInt32Value.of(1)));
    assertFalse(small.detector.putHttpResponseCode("a", 500, 2, small.stats), "default 10 %: refused");
    Clocked always = new Clocked(OutlierDetection.newBuilder().setConsecutive5Xx(UInt32Value.of(1))
        .setAlwaysEjectOneHost(com.google.protobuf.BoolValue.of(true)));
    assertTrue(always.detector.putHttpResponseCode("a", 500, 2, always.stats));
    assertFalse(always.detector.putHttpResponseCode("b", 500, 2, always.stats), "only one");
  }

  @Test
  void aMaxEjectionTimeBelowTheBaseIsAConfigurationError() {
    org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> new OutlierDetector(true,
        OutlierDetection.newBuilder().setBaseEjectionTime(Durations.fromSeconds(60))
            .setMaxEjectionTime(Durations.fromSeconds(30)).build()));
  }

  @Test
  void maxEjectionPercentKeepsHostsInService() {
    a.fallback(ScriptedUpstream.status(500));
    b.fallback(ScriptedUpstream.status(500));
    try (TestEnvoy envoy = ejecting(OutlierDetection.newBuilder().setConsecutive5Xx(UInt32Value.of(1))
        .setMaxEjectionPercent(UInt32Value.of(50)))) {
      for (int i = 0; i < 6; i++) {
        envoy.send(CHAT);
      }
      boolean aOut = envoy.ejected("c", "127.0.0.1", a.port());
      boolean bOut = envoy.ejected("c", "127.0.0.1", b.port());
      assertTrue(aOut ^ bOut, "one of two hosts is 50 %: the second ejection is refused");
      assertTrue(envoy.stats().ejectionsOverflow.get() > 0);
    }
  }
  @Test
  void aRetryBudgetReplacesMaxRetriesWithAShareOfActiveRequestsButNeverBelowItsMinimum() {
    var budget = CircuitBreakers.Thresholds.RetryBudget.newBuilder()
        .setBudgetPercent(io.envoyproxy.envoy.type.v3.Percent.newBuilder().setValue(50))
        .setMinRetryConcurrency(UInt32Value.of(1));
    UpstreamCluster c = new UpstreamCluster(Clusters.cluster(List.of(List.of(a, b))).setCircuitBreakers(
        breakers(CircuitBreakers.Thresholds.newBuilder().setMaxRetries(UInt32Value.of(0)).setRetryBudget(budget))).build(),
        null, java.util.Set.of(), new EnvoyStats());
    UpstreamHost h = new UpstreamHost("127.0.0.1", a.port(), 0, 1, io.envoyproxy.envoy.config.core.v3.Metadata.getDefaultInstance(),
        "", false, io.envoyproxy.envoy.config.core.v3.HealthStatus.HEALTHY);
    assertTrue(c.tryStartRetry(), "max_retries 0 is ignored: the minimum of 1 applies");
    assertFalse(c.tryStartRetry());
    for (int i = 0; i < 4; i++) {
      c.tryStartRequest(h);
    }
    assertTrue(c.tryStartRetry(), "50 % of 4 active requests: 2 retries");
    assertFalse(c.tryStartRetry());
  }
}
