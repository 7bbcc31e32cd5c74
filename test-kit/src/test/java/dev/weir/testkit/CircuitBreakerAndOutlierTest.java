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

  @Test
  void eachEjectionLastsLongerThanTheLast() throws Exception {
    a.fallback(ScriptedUpstream.status(500));
    try (TestEnvoy envoy = ejecting(OutlierDetection.newBuilder().setConsecutive5Xx(UInt32Value.of(1))
        .setBaseEjectionTime(Durations.fromMillis(200)).setMaxEjectionPercent(UInt32Value.of(50)))) {
      while (!envoy.ejected("c", "127.0.0.1", a.port())) {
        envoy.send(CHAT);
      }
      assertEquals(200, envoy.ejectionMillis("c", "127.0.0.1", a.port()));
      while (envoy.ejected("c", "127.0.0.1", a.port())) {
        Thread.sleep(20);
      }
      while (!envoy.ejected("c", "127.0.0.1", a.port())) {
        envoy.send(CHAT);
      }
      assertEquals(400, envoy.ejectionMillis("c", "127.0.0.1", a.port()), "base x number of ejections");
    }
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
}
