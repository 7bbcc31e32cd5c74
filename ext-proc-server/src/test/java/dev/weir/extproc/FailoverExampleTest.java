package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.ConfigLoader;
import dev.weir.config.v1.Backend;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.testkit.ExchangeRequest;
import dev.weir.testkit.ExchangeResponse;
import dev.weir.testkit.ScriptedUpstream;
import dev.weir.testkit.TestEnvoy;
import dev.weir.xds.EnvoyResources;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * docs/failover.md's example, run: PTU first, pay-as-you-go overflow, second region last, with the
 * retry policy and priorities xds-control-plane builds for it, through the Envoy test-kit.
 */
class FailoverExampleTest {
  private static final Path EXAMPLE = Path.of("..", "examples", "failover.yaml");
  private static final Map<String, String> ENV = Map.of("AOAI_EASTUS_PTU_KEY", "ptu-key",
      "AOAI_EASTUS_PAYGO_KEY", "paygo-key", "AOAI_WESTEUROPE_KEY", "weu-key");
  private static final ExchangeRequest CHAT = ExchangeRequest.post("/v1/chat/completions",
      "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
      "authorization", "Bearer sk-weir-app-demo");

  ScriptedUpstream ptu;
  ScriptedUpstream paygo;
  ScriptedUpstream weu;
  GatewayConfig config;
  ExtProcServer server;
  TestEnvoy envoy;

  @BeforeEach
  void start() throws Exception {
    ptu = new ScriptedUpstream("ptu");
    paygo = new ScriptedUpstream("paygo");
    weu = new ScriptedUpstream("westeurope");
    GatewayConfig.Builder b = new ConfigLoader(ENV::get, true).load(EXAMPLE).toBuilder();
    Map<String, ScriptedUpstream> byName = Map.of("aoai-eastus-ptu", ptu, "aoai-eastus-paygo", paygo,
        "aoai-westeurope", weu);
    for (Backend.Builder backend : b.getBackendsBuilderList()) {
      backend.setUrl(byName.get(backend.getName()).url());
    }
    config = b.build();
    server = new ExtProcServer(config, ENV::get, "127.0.0.1", 0, 0);
    envoy = envoyFor(config);
  }

  private TestEnvoy envoyFor(GatewayConfig config) throws Exception {
    return Gateway.envoy(config, server.grpcPort());
  }

  @AfterEach
  void stop() {
    envoy.close();
    server.close();
    ptu.close();
    paygo.close();
    weu.close();
  }

  @Test
  void failoverPageShowsTheExampleVerbatim() throws Exception {
    assertTrue(Files.readString(Path.of("..", "docs", "failover.md")).contains("```yaml\n" + Files.readString(EXAMPLE) + "```"));
  }

  @Test
  void healthyPtuTakesEveryRequest() {
    for (int i = 0; i < 5; i++) {
      assertEquals("aoai-eastus-ptu", envoy.send(CHAT).header("x-weir-backend"));
    }
    assertEquals(5, ptu.received().size());
    assertTrue(paygo.received().isEmpty() && weu.received().isEmpty());
  }

  /**
   * The retry goes to pay-as-you-go without waiting for the PTU's Retry-After: the generated
   * policy has no rate_limited_retry_back_off for a pool of several members, so Envoy applies its
   * default back-off (random below 25 ms for the first retry, retry_state_impl.cc).
   */
  @Test
  void throttledPtuSpillsToPayAsYouGoWithoutWaitingForItsRetryAfter() {
    ptu.enqueue(ScriptedUpstream.tooManyRequests(20));
    ExchangeResponse r = envoy.send(CHAT);
    assertEquals(200, r.status(), r.trace().toString());
    assertEquals("aoai-eastus-paygo", r.header("x-weir-backend"));
    assertEquals("paygo-key", paygo.last().header("api-key"));
    assertEquals("/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21", paygo.last().path());
    String retry = r.trace().stream().filter(t -> t.startsWith("envoy: retry")).findFirst().orElseThrow();
    long waitedMillis = Long.parseLong(retry.replaceAll(".* after (\\d+) ms", "$1"));
    assertTrue(waitedMillis < 25, "Envoy's first default back-off, not the 20 s Retry-After: " + retry);
  }

  @Test
  void whenPtuAndPayAsYouGoBothFailTheSecondRegionServes() {
    ptu.enqueue(ScriptedUpstream.status(503));
    paygo.enqueue(ScriptedUpstream.tooManyRequests(0));
    ExchangeResponse r = envoy.send(CHAT);
    assertEquals(200, r.status(), r.trace().toString());
    assertEquals("aoai-westeurope", r.header("x-weir-backend"));
    assertEquals("weu-key", weu.last().header("api-key"));
    assertEquals(1, ptu.received().size());
    assertEquals(1, paygo.received().size());
  }

  /**
   * A PTU that accepts the request and never answers: the shipped retry policy
   * (connect-failure,reset,retriable-status-codes) retries the timed-out try under "reset", and
   * previous_priorities sends it to pay-as-you-go. Only the example's idle timeout is shortened.
   */
  @Test
  void hungPtuIsCutByTheIdleTimeoutAndPayAsYouGoServesUnderTheShippedRetryPolicy() throws Exception {
    GatewayConfig.Builder fast = config.toBuilder();
    fast.getPoolsBuilder(0).getTimeoutsBuilder().setTryIdleSeconds(1);
    ptu.enqueue(new ScriptedUpstream.Hang());
    try (TestEnvoy hung = envoyFor(fast.build())) {
      ExchangeResponse r = hung.send(CHAT);
      assertEquals(200, r.status(), r.trace().toString());
      assertEquals("aoai-eastus-paygo", r.header("x-weir-backend"));
      assertTrue(r.trace().stream().anyMatch(t -> t.contains("retry (reset)")), r.trace().toString());
      assertEquals(1, hung.stats().perTryTimeouts.get());
    }
  }

  /**
   * The example's ejection settings (three consecutive gateway failures) as the control plane
   * generates them: after three 503s the PTU is ejected and the next request goes straight to
   * pay-as-you-go, without a failed try first.
   */
  @Test
  void ptuFailingThreeTimesIsEjectedAndTheNextRequestSkipsIt() {
    ptu.fallback(ScriptedUpstream.status(503));
    for (int i = 0; i < 3; i++) {
      assertEquals("aoai-eastus-paygo", envoy.send(CHAT).header("x-weir-backend"));
    }
    assertTrue(envoy.ejected(EnvoyResources.build(config).clusters().get(0).getName(), "127.0.0.1", ptu.port()));
    ExchangeResponse r = envoy.send(CHAT);
    assertEquals("aoai-eastus-paygo", r.header("x-weir-backend"), r.trace().toString());
    assertEquals(3, ptu.received().size(), "no fourth try on the ejected PTU");
  }

  @Test
  void whenEveryLevelFailsTheClientGetsTheLastAnswer() {
    ptu.enqueue(ScriptedUpstream.status(503));
    paygo.enqueue(ScriptedUpstream.status(503));
    weu.enqueue(ScriptedUpstream.tooManyRequests(30));
    ExchangeResponse r = envoy.send(CHAT);
    assertEquals(429, r.status());
    assertEquals("30", r.header("retry-after"), "the last backend's Retry-After reaches the client");
  }
}
