package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.testkit.ExchangeRequest;
import dev.weir.testkit.ExchangeResponse;
import dev.weir.testkit.ScriptedUpstream;
import io.envoyproxy.envoy.config.core.v3.HealthStatus;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * docs/failover.md's breaker example, run end to end: ext-proc-server's upstream pass sees the
 * PTU's 429 and trips it, reports the trip to a real xds-control-plane, which pushes the PTU as
 * UNHEALTHY over ADS to the test-kit Envoy; the trip ends on the control plane's clock, the PTU's
 * next answer is the probe. Both services run on one fake clock, so a 20 s trip takes no time.
 */
class ThrottleBreakerTest {
  private static final ExchangeRequest CHAT = ExchangeRequest.post("/v1/chat/completions",
      "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
      "authorization", "Bearer sk-weir-app-demo");

  private BreakerRig rig;

  @BeforeEach
  void start() throws Exception {
    rig = new BreakerRig(b -> { });
  }

  @AfterEach
  void stop() throws Exception {
    rig.close();
  }

  private HealthStatus ptuHealthPushed() {
    return rig.health(0);
  }

  private String status() throws Exception {
    return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
        + rig.controlPlane.adminPort() + "/status")).build(), HttpResponse.BodyHandlers.ofString()).body();
  }

  /** The PTU answers 429 with Retry-After 20; the trip reaches Envoy. */
  private void tripThePtu() throws Exception {
    rig.ptu.enqueue(ScriptedUpstream.tooManyRequests(20));
    ExchangeResponse first = rig.envoy.send(CHAT);
    assertEquals(200, first.status(), first.trace().toString());
    assertEquals("aoai-eastus-paygo", first.header("x-weir-backend"));
    BreakerRig.await(() -> ptuHealthPushed() == HealthStatus.UNHEALTHY, "the PTU pushed as UNHEALTHY");
  }

  @Test
  void failoverPageShowsTheBreakerExampleVerbatim() throws Exception {
    assertTrue(Files.readString(Path.of("..", "docs", "failover.md"))
        .contains("```yaml\n" + Files.readString(BreakerRig.EXAMPLE) + "```"));
  }

  @Test
  void afterThePtuAnswers429WithRetryAfter20TheNext100RequestsGoStraightToPayAsYouGo() throws Exception {
    tripThePtu();
    assertEquals(1, rig.ptu.received().size());
    for (int i = 0; i < 100; i++) {
      ExchangeResponse r = rig.envoy.send(CHAT);
      assertEquals(200, r.status(), r.trace().toString());
      assertEquals("aoai-eastus-paygo", r.header("x-weir-backend"));
      assertTrue(r.trace().stream().noneMatch(t -> t.startsWith("envoy: retry")), "no throttled attempt first: " + r.trace());
    }
    assertEquals(1, rig.ptu.received().size(), "no request reached the tripped PTU");
    assertEquals(101, rig.paygo.received().size());
    String status = status();
    assertTrue(status.contains("gpt-4o/aoai-eastus-ptu: tripped until") && status.contains("(20 s left)")
        && status.contains("reason: status 429, backend said 20 s"), status);
    assertTrue(Gateway.metricsOf(rig.server.adminPort()).matches(
        "(?s).*weir_breaker_events_total\\{backend=\"aoai-eastus-ptu\",event=\"trip\",pool=\"gpt-4o\"} 1\\.0.*"));
  }

  @Test
  void whenTheTripEndsOneProbeGoesToThePtuThenFullTrafficReturns() throws Exception {
    tripThePtu();
    rig.now.addAndGet(19_000);
    rig.controlPlane.ads().trips().expire();
    assertEquals(HealthStatus.UNHEALTHY, ptuHealthPushed(), "19 s into a 20 s trip, still out");
    rig.now.addAndGet(1_000);
    rig.controlPlane.ads().trips().expire(); // or the control plane's own timer, whichever runs first
    BreakerRig.await(() -> ptuHealthPushed() != HealthStatus.UNHEALTHY, "the PTU back in the load assignment");
    assertTrue(status().contains("gpt-4o/aoai-eastus-ptu: half-open"), status());
    ExchangeResponse probe = rig.envoy.send(CHAT);
    assertEquals("aoai-eastus-ptu", probe.header("x-weir-backend"), probe.trace().toString());
    BreakerRig.await(() -> rig.controlPlane.ads().trips().current().isEmpty(), "the recovery reported");
    assertTrue(Gateway.metricsOf(rig.server.adminPort()).contains("event=\"recovery\""));
    for (int i = 0; i < 20; i++) {
      assertEquals("aoai-eastus-ptu", rig.envoy.send(CHAT).header("x-weir-backend"));
    }
    assertEquals(22, rig.ptu.received().size());
    assertEquals(1, rig.paygo.received().size(), "only the request that tripped the PTU went to pay-as-you-go");
  }

  @Test
  void aProbeThatIsThrottledAgainTripsThePtuAtOnce() throws Exception {
    tripThePtu();
    rig.now.addAndGet(20_000);
    rig.controlPlane.ads().trips().expire();
    BreakerRig.await(() -> ptuHealthPushed() != HealthStatus.UNHEALTHY, "the PTU back in the load assignment");
    rig.ptu.enqueue(ScriptedUpstream.tooManyRequests(7));
    assertEquals("aoai-eastus-paygo", rig.envoy.send(CHAT).header("x-weir-backend"));
    BreakerRig.await(() -> ptuHealthPushed() == HealthStatus.UNHEALTHY, "the PTU out again");
    assertTrue(status().contains("(7 s left)") && status().contains("probe failed"), status());
    for (int i = 0; i < 10; i++) {
      assertEquals("aoai-eastus-paygo", rig.envoy.send(CHAT).header("x-weir-backend"));
    }
    assertEquals(2, rig.ptu.received().size());
  }

  @Test
  void whenBothAreThrottledTheGatewayAnswers429AtOnceWithTheSoonestRetryAfter() throws Exception {
    rig.ptu.enqueue(ScriptedUpstream.tooManyRequests(20));
    rig.paygo.enqueue(ScriptedUpstream.tooManyRequests(5));
    ExchangeResponse last = rig.envoy.send(CHAT);
    assertEquals(429, last.status(), "both throttled: the client gets the last backend's answer");
    ExchangeResponse r = rig.envoy.send(CHAT);
    assertEquals(429, r.status(), r.trace().toString());
    assertEquals("5", r.header("retry-after"), "pay-as-you-go comes back first, in 5 s");
    assertTrue(new String(r.body()).contains("\"code\":\"backends_throttled\""), new String(r.body()));
    assertTrue(r.trace().stream().noneMatch(t -> t.startsWith("envoy: attempt")), "sent nowhere: " + r.trace());
    rig.now.addAndGet(3_000);
    assertEquals("2", rig.envoy.send(CHAT).header("retry-after"));
    assertEquals(1, rig.ptu.received().size());
    assertEquals(1, rig.paygo.received().size());
    rig.now.addAndGet(2_000);
    ExchangeResponse after = rig.envoy.send(CHAT);
    assertEquals(200, after.status(), "pay-as-you-go's trip is over: the router pass lets the request through");
  }
}
