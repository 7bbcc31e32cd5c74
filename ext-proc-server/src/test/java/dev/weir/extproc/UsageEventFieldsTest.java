package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.ApiKeys;
import dev.weir.config.ConfigLoader;
import dev.weir.events.v1.SafetyVerdict;
import dev.weir.events.v1.UsageEvent;
import dev.weir.testkit.ExchangeRequest;
import dev.weir.testkit.ExchangeResponse;
import dev.weir.testkit.ScriptedUpstream;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Every field of the usage event, for a served, a cached, a blocked, a limited and a failed-over
 * exchange, through the test-kit Envoy and xds-control-plane's routes.
 */
class UsageEventFieldsTest {
  static final String CONFIG = """
      backends:
        - { name: primary, provider: openai-compatible, url: PRIMARY_URL }
        - { name: spare, provider: openai, url: SPARE_URL, credential: { env: SPARE_KEY } }
      pools:
        - name: p
          strategy: priority
          members:
            - { backend: primary, priority: 0, model: gpt-4o-2024-08-06 }
            - { backend: spare, priority: 1, model: gpt-4o-spare }
          retries: { maxRetries: 1 }
      models:
        - { name: gpt-4o, pool: p, price: { inputPerMillion: 2.5, outputPerMillion: 10 } }
      limits:
        - { name: two-per-minute, requestsPerMinute: 2 }
      policies:
        cache: { tiers: [ exact ] }
        safety: { email: block, phone: monitor }
      consumers:
        - { name: team, keys: [ "%s" ], models: [ "*" ], limits: [ two-per-minute ] }
        - { name: free, keys: [ "%s" ], models: [ "*" ] }
      """.formatted(ApiKeys.hash("sk-team"), ApiKeys.hash("sk-free"));
  static final String TEAM_KEY_ID = "key:" + ApiKeys.hash("sk-team").substring(7, 19);

  ScriptedUpstream primary;
  ScriptedUpstream spare;
  Gateway gw;

  @BeforeEach
  void start() throws Exception {
    primary = new ScriptedUpstream("primary");
    spare = new ScriptedUpstream("spare");
    Map<String, String> env = Map.of("SPARE_KEY", "sk-spare");
    gw = new Gateway(new ConfigLoader(env::get, true).parse(
        CONFIG.replace("PRIMARY_URL", primary.url()).replace("SPARE_URL", spare.url()), "test", null), env);
  }

  @AfterEach
  void stop() {
    gw.close();
    primary.close();
    spare.close();
  }

  static String chat(String prompt) {
    return "{\"model\":\"gpt-4o\",\"temperature\":0,\"messages\":[{\"role\":\"user\",\"content\":\"" + prompt + "\"}]}";
  }

  ExchangeResponse send(String key, String body, String requestId) {
    return gw.envoy.send(ExchangeRequest.post("/v1/chat/completions", body, "authorization", "Bearer " + key,
        "x-request-id", requestId));
  }

  /** The event of the exchange with this request id, once it was published. */
  UsageEvent event(String requestId) throws InterruptedException {
    for (int i = 0; i < 300; i++) {
      List<UsageEvent> found = gw.server.runtime().telemetry().recent().newest(1000, null, null).stream()
          .filter(e -> e.getRequestId().equals(requestId)).toList();
      if (!found.isEmpty()) {
        return found.get(0);
      }
      Thread.sleep(10);
    }
    throw new AssertionError("no event for request " + requestId);
  }

  static void assertCommon(UsageEvent e, String requestId) {
    assertEquals(requestId, e.getRequestId());
    assertEquals("team", e.getConsumer());
    assertEquals(TEAM_KEY_ID, e.getKeyId(), "a prefix of the key's hash, never the key");
    assertFalse(e.toString().contains("sk-team"));
    assertEquals("gpt-4o", e.getModelRequested());
    assertEquals("chat_completions", e.getEndpoint());
    assertFalse(e.getStream());
    assertTrue(e.getTime().getSeconds() > 1_700_000_000L);
    assertTrue(e.getTotalLatencyMs() > 0);
    assertTrue(e.getGatewayLatencyMs() > 0 && e.getGatewayLatencyMs() <= e.getTotalLatencyMs(), e.toString());
    assertFalse(e.getReplica().isEmpty());
    assertEquals("", e.getPrompt(), "content logging is off by default");
    assertEquals("", e.getAnswer());
  }

  @Test
  void aServedExchangeNamesBackendProviderTokensCostAndLimits() throws Exception {
    assertEquals(200, send("sk-team", chat("hello"), "served-1").status());
    UsageEvent e = event("served-1");
    assertCommon(e, "served-1");
    assertEquals("served", e.getOutcome());
    assertEquals("", e.getErrorCode());
    assertEquals(200, e.getStatus());
    assertEquals(1, e.getAttempts());
    assertEquals("p", e.getPool());
    assertEquals("primary", e.getBackend());
    assertEquals("openai-compatible", e.getProvider());
    assertEquals("gpt-4o-2024-08-06", e.getModelServed(), "the model the backend answered with");
    assertEquals(12, e.getPromptTokens());
    assertEquals(5, e.getCompletionTokens());
    assertEquals(0, e.getCachedTokens());
    assertEquals(0, e.getReasoningTokens());
    assertEquals("backend", e.getTokensCountedBy());
    assertEquals((12 * 2.5 + 5 * 10) / 1e6, e.getCostUsd(), 1e-12);
    assertEquals(0, e.getCachedSavingsUsd());
    assertEquals("miss", e.getCache());
    assertEquals(List.of(), e.getSafetyList());
    assertEquals("", e.getLimitedBy());
    assertEquals("1", e.getLimitsMap().get("x-ratelimit-remaining-requests"), e.getLimitsMap().toString());
    assertTrue(e.getTimeToFirstTokenMs() > 0 && e.getTimeToFirstTokenMs() <= e.getTotalLatencyMs());
  }

  @Test
  void aCachedExchangeCostsNothingAndRecordsWhatItSaved() throws Exception {
    assertEquals(200, send("sk-team", chat("same question"), "first").status());
    event("first");
    ExchangeResponse r = send("sk-team", chat("same question"), "cached-1");
    assertEquals("hit-exact", r.header("x-weir-cache"));
    UsageEvent e = event("cached-1");
    assertCommon(e, "cached-1");
    assertEquals("cached", e.getOutcome());
    assertEquals(200, e.getStatus());
    assertEquals("hit-exact", e.getCache());
    assertEquals(0, e.getAttempts(), "no backend was called");
    assertEquals("", e.getBackend());
    assertEquals("", e.getProvider());
    assertEquals(0, e.getPromptTokens());
    assertEquals(0, e.getCostUsd());
    assertEquals((12 * 2.5 + 5 * 10) / 1e6, e.getCachedSavingsUsd(), 1e-12);
    assertEquals("0", e.getLimitsMap().get("x-ratelimit-remaining-requests"), "a hit still counts as a request");
    assertTrue(e.getTimeToFirstTokenMs() > 0);
  }

  @Test
  void aBlockedExchangeNamesTheFindingsAndNoBackend() throws Exception {
    assertEquals(400, send("sk-team", chat("mail me at jane@example.com or +1 202 555 0143"), "blocked-1").status());
    UsageEvent e = event("blocked-1");
    assertCommon(e, "blocked-1");
    assertEquals("blocked", e.getOutcome());
    assertEquals("content_filter", e.getErrorCode());
    assertEquals(400, e.getStatus());
    assertEquals(0, e.getAttempts());
    assertEquals("", e.getBackend());
    assertEquals(List.of(
        SafetyVerdict.newBuilder().setDirection("prompt").setCategory("email").setAction("block").setCount(1).build(),
        SafetyVerdict.newBuilder().setDirection("prompt").setCategory("phone").setAction("monitor").setCount(1).build()),
        e.getSafetyList());
    assertEquals(0, e.getCostUsd());
    assertEquals(0, primary.received().size() + spare.received().size());
  }

  @Test
  void aLimitedExchangeNamesTheLimit() throws Exception {
    assertEquals(200, send("sk-team", chat("one"), "ok-1").status());
    assertEquals(200, send("sk-team", chat("two"), "ok-2").status());
    ExchangeResponse r = send("sk-team", chat("three"), "limited-1");
    assertEquals(429, r.status());
    UsageEvent e = event("limited-1");
    assertCommon(e, "limited-1");
    assertEquals("limited", e.getOutcome());
    assertEquals("requests_per_minute_exceeded", e.getErrorCode());
    assertEquals(429, e.getStatus());
    assertEquals("two-per-minute", e.getLimitedBy());
    assertEquals(0, e.getAttempts());
    assertEquals(0, e.getCostUsd());
    assertEquals("miss", e.getCache(), "looked up before the limits refused it");
  }

  @Test
  void aFailedOverExchangeCountsItsAttemptsAndNamesTheBackendThatServed() throws Exception {
    primary.enqueue(ScriptedUpstream.status(503));
    ExchangeResponse r = send("sk-team", chat("failover please"), "failover-1");
    assertEquals(200, r.status(), r.toString());
    UsageEvent e = event("failover-1");
    assertCommon(e, "failover-1");
    assertEquals("failed_over", e.getOutcome());
    assertEquals(2, e.getAttempts());
    assertEquals("spare", e.getBackend());
    assertEquals("openai", e.getProvider());
    assertEquals("gpt-4o-spare", e.getModelServed());
    assertEquals(12, e.getPromptTokens());
    assertEquals((12 * 2.5 + 5 * 10) / 1e6, e.getCostUsd(), 1e-12);
  }
}
