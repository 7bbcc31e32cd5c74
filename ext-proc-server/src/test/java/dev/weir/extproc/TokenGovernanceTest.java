package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.weir.config.ApiKeys;
import dev.weir.testkit.ExchangeResponse;
import dev.weir.testkit.ScriptedUpstream;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Token limits through the whole gateway (in-process counters), seen from the client. */
class TokenGovernanceTest {
  static final String CONFIG = """
      backends: [ { name: local, provider: openai-compatible, url: UPSTREAM } ]
      pools: [ { name: p, members: [ { backend: local } ] } ]
      models:
        - { name: gpt-4o, pool: p, price: { inputPerMillion: 2.5, outputPerMillion: 10 } }
      limits:
        - { name: tpm, tokensPerMinute: 2000 }
        - { name: daily, quota: { tokens: 100000, period: day } }
        - { name: tiny-quota, quota: { tokens: 60, period: month } }
      consumers:
        - { name: team, keys: [ "%s" ], models: [ "*" ], limits: [ tpm, daily ] }
        - { name: small, keys: [ "%s" ], models: [ "*" ], limits: [ tiny-quota ] }
        - { name: free, keys: [ "%s" ], models: [ "*" ] }
      tokens: { defaultCompletionReservation: 500, maxCompletionReservation: 1000 }
      """.formatted(ApiKeys.hash("sk-team"), ApiKeys.hash("sk-small"), ApiKeys.hash("sk-free"));
  static final String CHAT = "{\"model\":\"gpt-4o\",\"max_tokens\":%d,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  static final String STREAM = "{\"model\":\"gpt-4o\",\"stream\":true,%s\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  static final ObjectMapper JSON = new ObjectMapper();

  ScriptedUpstream upstream;
  Gateway gw;

  @BeforeEach
  void start() throws Exception {
    upstream = new ScriptedUpstream("up");
    gw = new Gateway(CONFIG, upstream);
  }

  @AfterEach
  void stop() {
    gw.close();
    upstream.close();
  }

  @Test
  void everyAnswerCarriesRemainingRoomAndWhatItConsumed() {
    ExchangeResponse r = gw.chat("sk-team", CHAT.formatted(300));
    assertEquals(200, r.status(), r.toString());
    assertEquals("2000", r.header("x-ratelimit-limit-tokens"));
    long prompt = Long.parseLong(r.header("x-weir-tokens-reserved")) - 300;
    assertEquals(Long.toString(2000 - prompt - 300), r.header("x-ratelimit-remaining-tokens"));
    assertEquals("17", r.header("x-weir-tokens-consumed"), "the backend's usage: 12 prompt + 5 completion");
    assertNotNull(r.header("x-weir-quota-remaining-tokens"));
    ExchangeResponse next = gw.chat("sk-team", CHAT.formatted(300));
    assertEquals(Long.toString(2000 - 17 - prompt - 300), next.header("x-ratelimit-remaining-tokens"),
        "the first reservation was settled to its actual 17 tokens");
  }

  @Test
  void overTheMinuteLimitIs429WithRetryAfterAndNoBackendCall() throws Exception {
    upstream.fallback(new ScriptedUpstream.Json(200,
        "{\"id\":\"x\",\"object\":\"chat.completion\",\"choices\":[],"
            + "\"usage\":{\"prompt_tokens\":900,\"completion_tokens\":900,\"total_tokens\":1800}}"));
    assertEquals(200, gw.chat("sk-team", CHAT.formatted(1000)).status());
    int calls = upstream.received().size();
    ExchangeResponse r = gw.chat("sk-team", CHAT.formatted(1000));
    assertEquals(429, r.status());
    assertEquals("tokens_per_minute_exceeded", JSON.readTree(r.body()).path("error").path("code").asText());
    assertEquals("tpm", r.header("x-weir-limit"));
    long retryAfter = Long.parseLong(r.header("retry-after"));
    assertTrue(retryAfter >= 59 && retryAfter <= 61, "seconds until the first charge leaves: " + retryAfter);
    assertEquals(calls, upstream.received().size(), "refused before the backend");
  }

  @Test
  void spentQuotaIs403() throws Exception {
    assertEquals(200, gw.chat("sk-small", CHAT.formatted(10)).status()); // reserves ~19, uses 17
    assertEquals(200, gw.chat("sk-small", CHAT.formatted(10)).status());
    assertEquals(200, gw.chat("sk-small", CHAT.formatted(10)).status()); // 51 used
    ExchangeResponse r = gw.chat("sk-small", CHAT.formatted(10));
    assertEquals(403, r.status());
    assertEquals("token_quota_exceeded", JSON.readTree(r.body()).path("error").path("code").asText());
    assertNull(r.header("retry-after"), "a spent quota does not come back in seconds");
  }

  @Test
  void streamAsksForUsageUpstreamAndHidesTheExtraChunkFromTheClient() {
    ExchangeResponse r = gw.chat("sk-team", STREAM.formatted(""));
    assertEquals(200, r.status());
    assertTrue(upstream.last().json().path("stream_options").path("include_usage").asBoolean(),
        "the backend was asked for usage");
    assertFalse(r.bodyText().contains("\"usage\""), "the client did not ask for it, so it does not get it");
    assertTrue(r.bodyText().contains("Hello ") && r.bodyText().endsWith("data: [DONE]\n\n"), r.bodyText());
    ExchangeResponse next = gw.chat("sk-team", CHAT.formatted(0));
    long prompt = Long.parseLong(next.header("x-weir-tokens-reserved")) - 500;
    assertEquals(Long.toString(2000 - 12 - 3 - prompt - 500), next.header("x-ratelimit-remaining-tokens"),
        "the stream was charged its reported usage (12 prompt + 3 completion)");
  }

  @Test
  void clientThatAskedForStreamUsageGetsIt() {
    ExchangeResponse r = gw.chat("sk-team", STREAM.formatted("\"stream_options\":{\"include_usage\":true},"));
    assertTrue(r.bodyText().contains("\"usage\""), r.bodyText());
  }

  @Test
  void backendWithoutUsageIsCountedByTheGateway() throws Exception {
    List<String> noUsage = ScriptedUpstream.chatChunks("gpt-4o", "one two three four five six", false);
    upstream.enqueue(new ScriptedUpstream.Sse(noUsage, Duration.ZERO));
    ExchangeResponse r = gw.chat("sk-team", STREAM.formatted(""));
    assertEquals(200, r.status());
    String metrics = gw.metricsContaining("counted_by=\"gateway\"");
    assertTrue(metrics.contains("counted_by=\"gateway\""), metrics);
    assertTrue(metrics.contains("weir_tokens_total{backend=\"local\",consumer=\"team\",counted_by=\"gateway\","
        + "model=\"gpt-4o\",type=\"output\"} 6.0"), "six words, six tokens: " + metrics);
  }

  @Test
  void failedBackendCallRefundsTheReservation() {
    upstream.enqueue(ScriptedUpstream.status(500), ScriptedUpstream.status(500)); // the attempt and its retry
    assertEquals(500, gw.chat("sk-team", CHAT.formatted(800)).status());
    ExchangeResponse r = gw.chat("sk-team", CHAT.formatted(0));
    long prompt = Long.parseLong(r.header("x-weir-tokens-reserved")) - 500;
    assertEquals(Long.toString(2000 - prompt - 500), r.header("x-ratelimit-remaining-tokens"));
  }

  @Test
  void consumerWithoutLimitsIsNotCountedButStillMetered() throws Exception {
    ExchangeResponse r = gw.chat("sk-free", CHAT.formatted(10));
    assertEquals(200, r.status());
    assertNull(r.header("x-ratelimit-limit-tokens"));
    String metrics = gw.metricsContaining("weir_cost_usd_total{");
    assertTrue(metrics.contains("gen_ai_client_token_usage_sum{gen_ai_operation_name=\"chat_completions\","
        + "gen_ai_request_model=\"gpt-4o\",gen_ai_token_type=\"input\",weir_backend=\"local\",weir_consumer=\"free\","
        + "weir_outcome=\"served\"} 12.0"), metrics);
    assertTrue(metrics.contains("weir_cost_usd_total{backend=\"local\",consumer=\"free\",model=\"gpt-4o\"} 8.0E-5"),
        "12 × $2.5/M + 5 × $10/M = $0.00008: " + metrics);
  }

  @Test
  void streamUsageNeverLeavesTheRequestAloneAndCountsTheStream() throws Exception {
    try (Gateway never = new Gateway(CONFIG.replace("tokens: {", "tokens: { streamUsage: never,"), upstream)) {
      ExchangeResponse r = never.chat("sk-team", STREAM.formatted(""));
      assertEquals(200, r.status());
      assertTrue(upstream.last().json().path("stream_options").isMissingNode(), "the request went unchanged");
      String metrics = never.metricsContaining("counted_by=\"gateway\"");
      assertTrue(metrics.contains("counted_by=\"gateway\""), metrics);
    }
  }
}
