package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.testkit.ExchangeRequest;
import dev.weir.testkit.ExchangeResponse;
import dev.weir.testkit.ScriptedUpstream;
import io.envoyproxy.envoy.config.core.v3.HealthStatus;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The breaker example with {@code allTrippedProbeMillis: 1000}, end to end (ext-proc-server, a real
 * xds-control-plane over ADS, the test-kit Envoy, one fake clock): while both members are tripped
 * one request a second still goes out; Envoy, finding no healthy host, sends it in panic mode, and
 * its good answer ends the PTU's trip long before the PTU's Retry-After said.
 */
class BreakerProbeTest {
  private static final ExchangeRequest CHAT = ExchangeRequest.post("/v1/chat/completions",
      "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
      "authorization", "Bearer sk-weir-app-demo");

  private BreakerRig rig;

  @BeforeEach
  void start() throws Exception {
    rig = new BreakerRig(b -> b.getPoolsBuilder(0).getBreakerBuilder().setAllTrippedProbeMillis(1000));
  }

  @AfterEach
  void stop() throws Exception {
    rig.close();
  }

  private HealthStatus health(int member) {
    return rig.health(member);
  }

  @Test
  void whileBothAreTrippedOneRequestASecondIsSentAndItsGoodAnswerEndsThePtusTripEarly() throws Exception {
    rig.ptu.enqueue(ScriptedUpstream.tooManyRequests(20));
    rig.paygo.enqueue(ScriptedUpstream.tooManyRequests(20));
    assertEquals(429, rig.envoy.send(CHAT).status(), "both throttled: the client gets the last backend's answer");
    BreakerRig.await(() -> health(0) == HealthStatus.UNHEALTHY && health(1) == HealthStatus.UNHEALTHY, "both pushed out");

    ExchangeResponse probe = rig.envoy.send(CHAT);
    assertEquals(200, probe.status(), "the first request of the spell is the probe: " + probe.trace());
    // No healthy host: Envoy's panic load goes by host count, so the probe may reach either member.
    String answered = probe.header("x-weir-backend");
    int member = answered.equals("aoai-eastus-ptu") ? 0 : 1;
    BreakerRig.await(() -> health(member) != HealthStatus.UNHEALTHY, answered + " back in the load assignment, 20 s early");
    assertEquals(HealthStatus.UNHEALTHY, health(1 - member), "the other member's trip runs on");
    assertTrue(Gateway.metricsOf(rig.server.adminPort()).contains("event=\"probe\""));
    int before = rig.ptu.received().size() + rig.paygo.received().size();
    for (int i = 0; i < 5; i++) {
      ExchangeResponse r = rig.envoy.send(CHAT);
      assertEquals(200, r.status(), r.trace().toString());
      assertEquals(answered, r.header("x-weir-backend"), "sent at once, to the member the probe brought back");
    }
    assertEquals(before + 5, rig.ptu.received().size() + rig.paygo.received().size());
  }

  @Test
  void refusedRequestsBetweenProbesAreAnsweredAtOnce() throws Exception {
    rig.ptu.enqueue(ScriptedUpstream.tooManyRequests(20));
    rig.paygo.enqueue(ScriptedUpstream.tooManyRequests(20));
    rig.envoy.send(CHAT);
    BreakerRig.await(() -> health(0) == HealthStatus.UNHEALTHY && health(1) == HealthStatus.UNHEALTHY, "both pushed out");
    rig.ptu.enqueue(ScriptedUpstream.tooManyRequests(20));
    rig.paygo.enqueue(ScriptedUpstream.tooManyRequests(20));
    assertEquals(429, rig.envoy.send(CHAT).status(), "the probe, throttled by both");
    ExchangeResponse r = rig.envoy.send(CHAT);
    assertEquals(429, r.status());
    assertTrue(new String(r.body()).contains("\"code\":\"backends_throttled\""), new String(r.body()));
    assertTrue(r.trace().stream().noneMatch(t -> t.startsWith("envoy: attempt")), "sent nowhere: " + r.trace());
    assertEquals(2, rig.ptu.received().size(), "the probe tried both members");
    assertEquals(2, rig.paygo.received().size());
    rig.now.addAndGet(1_000);
    assertEquals(200, rig.envoy.send(CHAT).status(), "a second later, the next probe");
  }
}
