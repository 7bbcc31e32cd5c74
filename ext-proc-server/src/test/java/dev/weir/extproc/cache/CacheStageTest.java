package dev.weir.extproc.cache;

import static dev.weir.testkit.ProcessingRequests.immediateBody;
import static dev.weir.testkit.ProcessingRequests.immediateStatus;
import static dev.weir.testkit.ProcessingRequests.requestBody;
import static dev.weir.testkit.ProcessingRequests.requestHeaders;
import static dev.weir.testkit.ProcessingRequests.responseBody;
import static dev.weir.testkit.ProcessingRequests.responseHeaders;
import static dev.weir.testkit.ProcessingRequests.setHeaders;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.weir.config.ApiKeys;
import dev.weir.config.ConfigLoader;
import dev.weir.config.Wire;
import dev.weir.extproc.GatewayRuntime;
import dev.weir.extproc.openai.Json;
import dev.weir.extproc.session.RouterExchange;
import dev.weir.extproc.telemetry.GatewayMetrics;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The cache stage in the standard pipeline, fed raw ext_proc messages as Envoy sends them. */
class CacheStageTest {
  static final String KEY_A = "sk-cache-a";
  static final String KEY_B = "sk-cache-b";
  static final String CONFIG = """
      backends:
        - { name: local, provider: openai-compatible, url: "http://127.0.0.1:1" }
      pools: [ { name: p, members: [ { backend: local } ] } ]
      models:
        - { name: gpt-4o, pool: p }
        - { name: gpt-4o-mini, pool: p }
      policies:
        cache: { tiers: [ exact ], ttlSeconds: 600, allowSeed: true }
      limits:
        - { name: rpm, requestsPerMinute: 4 }
        - { name: tpm, tokensPerMinute: 160 }
      consumers:
        - { name: a, keys: [ "%s" ], models: [ "*" ], limits: [ rpm, tpm ] }
        - { name: b, keys: [ "%s" ], models: [ "*" ] }
      """.formatted(ApiKeys.hash(KEY_A), ApiKeys.hash(KEY_B));
  static final String CHAT = """
      {"model":"gpt-4o","temperature":0,"max_tokens":50,
       "messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hello"},
                   {"role":"assistant","content":"Hi."},{"role":"user","content":"What is 2+2?"}],
       "tools":[{"type":"function","function":{"name":"calc","parameters":{"type":"object"}}}],
       "tool_choice":"auto","response_format":{"type":"text"}}""";
  static final String ANSWER = """
      {"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,\
      "message":{"role":"assistant","content":"4"},"logprobs":null,"finish_reason":"stop"}],\
      "usage":{"prompt_tokens":30,"completion_tokens":1,"total_tokens":31}}""";

  GatewayRuntime runtime;

  @BeforeEach
  void start() throws Exception {
    runtime = runtime(CONFIG);
  }

  @AfterEach
  void stop() {
    runtime.close();
  }

  static GatewayRuntime runtime(String yaml) throws Exception {
    var config = new ConfigLoader(Map.<String, String>of()::get, true).parse(yaml, "test", null);
    return new GatewayRuntime(config, Map.<String, String>of()::get, new GatewayMetrics());
  }

  /** What the client got: the immediate answer, or the backend's through the response phases. */
  record Outcome(String cacheHeader, int status, String body, String contentType) {}

  static Outcome call(GatewayRuntime gw, String key, String body, String... extraHeaders) {
    return call(gw, key, body, 200, "application/json", List.of(ANSWER), true, extraHeaders);
  }

  static Outcome call(GatewayRuntime gw, String key, String body, int status, String contentType, List<String> chunks,
      boolean complete, String... extraHeaders) {
    RouterExchange x = new RouterExchange(gw);
    List<String> headers = new ArrayList<>(List.of(":method", "POST", ":path", "/v1/chat/completions",
        "content-type", "application/json", "authorization", "Bearer " + key));
    headers.addAll(List.of(extraHeaders));
    x.handle(requestHeaders(false, headers.toArray(String[]::new)));
    ProcessingResponse r = x.handle(requestBody(body));
    if (immediateStatus(r) != 0) {
      x.end(false);
      return new Outcome(setHeaders(r).get(CacheStage.HEADER), immediateStatus(r), immediateBody(r),
          setHeaders(r).get("content-type"));
    }
    ProcessingResponse h = x.handle(responseHeaders(status, contentType, Wire.BACKEND_ATTRIBUTE, "local"));
    StringBuilder out = new StringBuilder();
    for (int i = 0; i < chunks.size(); i++) {
      x.handle(responseBody(chunks.get(i), complete && i == chunks.size() - 1));
      out.append(chunks.get(i));
    }
    x.end(!complete);
    return new Outcome(setHeaders(h).get(CacheStage.HEADER), status, out.toString(), contentType);
  }

  @Test
  void aRepeatedRequestIsAnsweredFromTheExactTierAsTheBackendAnswered() throws Exception {
    assertEquals("miss", call(runtime, KEY_A, CHAT).cacheHeader());
    Outcome hit = call(runtime, KEY_A, CHAT.replace("\"temperature\":0", "\"temperature\":0.0"));
    assertEquals("hit-exact", hit.cacheHeader());
    assertEquals(200, hit.status());
    assertEquals(Json.MAPPER.readTree(ANSWER), Json.MAPPER.readTree(hit.body()));
    assertTrue(runtime.metrics().scrape().contains("outcome=\"cached\""), runtime.metrics().scrape());
    assertTrue(runtime.metrics().scrape().matches("(?s).*weir_cache_tokens_saved_total\\{[^}]*} 31\\.0.*"));
  }

  @Test
  void twoConsumersWithTheSamePromptNeverShareAnEntry() {
    call(runtime, KEY_A, CHAT);
    assertEquals("miss", call(runtime, KEY_B, CHAT).cacheHeader());
    assertEquals("hit-exact", call(runtime, KEY_B, CHAT).cacheHeader());
  }

  @ParameterizedTest
  @ValueSource(strings = {"model", "system", "earlier turn", "tools", "tool_choice", "response_format",
      "temperature", "max_tokens", "last turn", "stop", "top_p", "seed"})
  void changingAnyOneKeyFieldTurnsAHitIntoAMiss(String field) {
    call(runtime, KEY_B, CHAT);
    String changed = switch (field) {
      case "model" -> CHAT.replace("\"gpt-4o\"", "\"gpt-4o-mini\"");
      case "system" -> CHAT.replace("Be brief.", "Be verbose.");
      case "earlier turn" -> CHAT.replace("\"Hi.\"", "\"Hello.\"");
      case "tools" -> CHAT.replace("\"calc\"", "\"calculator\"");
      case "tool_choice" -> CHAT.replace("\"tool_choice\":\"auto\"", "\"tool_choice\":\"none\"");
      case "response_format" -> CHAT.replace("{\"type\":\"text\"}", "{\"type\":\"json_object\"}");
      case "temperature" -> CHAT.replace("\"temperature\":0", "\"temperature\":-0.5");
      case "max_tokens" -> CHAT.replace("\"max_tokens\":50", "\"max_tokens\":51");
      case "last turn" -> CHAT.replace("2+2", "2+3");
      case "stop" -> CHAT.replace("\"max_tokens\":50", "\"max_tokens\":50,\"stop\":[\"\\n\"]");
      case "top_p" -> CHAT.replace("\"max_tokens\":50", "\"max_tokens\":50,\"top_p\":0.5");
      case "seed" -> CHAT.replace("\"max_tokens\":50", "\"max_tokens\":50,\"seed\":7");
      default -> throw new IllegalArgumentException(field);
    };
    assertNotEquals(CHAT, changed);
    assertEquals("miss", call(runtime, KEY_B, changed).cacheHeader(), field);
    assertEquals("hit-exact", call(runtime, KEY_B, CHAT).cacheHeader(), "the original still hits");
  }

  @Test
  void aStreamedAnswerIsStoredAndReplayedAsSseAndAsJsonToAJsonRequest() throws Exception {
    String stream = CHAT.replace("\"temperature\":0", "\"temperature\":0,\"stream\":true");
    List<String> events = List.of(
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\","
            + "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Fo\"},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\","
            + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ur\"},\"finish_reason\":\"stop\"}]}\n\n",
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[],"
            + "\"usage\":{\"prompt_tokens\":30,\"completion_tokens\":2,\"total_tokens\":32}}\n\ndata: [DONE]\n\n");
    assertEquals("miss", call(runtime, KEY_B, stream, 200, "text/event-stream", events, true).cacheHeader());

    Outcome replay = call(runtime, KEY_B, stream);
    assertEquals("hit-exact", replay.cacheHeader());
    assertEquals("text/event-stream", replay.contentType());
    StringBuilder text = new StringBuilder();
    String finish = null;
    for (String block : replay.body().split("\n\n")) {
      assertTrue(block.startsWith("data: "), block);
      String data = block.substring(6);
      if (data.equals("[DONE]")) {
        continue;
      }
      JsonNode c = Json.MAPPER.readTree(data);
      assertEquals("chat.completion.chunk", c.get("object").asText());
      text.append(c.path("choices").path(0).path("delta").path("content").asText(""));
      if (c.path("choices").path(0).hasNonNull("finish_reason")) {
        finish = c.path("choices").path(0).get("finish_reason").asText();
      }
    }
    assertTrue(replay.body().endsWith("data: [DONE]\n\n"));
    assertEquals("Four", text.toString());
    assertEquals("stop", finish);

    Outcome json = call(runtime, KEY_B, CHAT);
    assertEquals("hit-exact", json.cacheHeader());
    JsonNode answer = Json.MAPPER.readTree(json.body());
    assertEquals("Four", answer.path("choices").path(0).path("message").path("content").asText());
    assertEquals(32, answer.path("usage").path("total_tokens").asInt());
  }

  @Test
  void aStreamCutMidWayIsNotStored() {
    String stream = CHAT.replace("\"temperature\":0", "\"temperature\":0,\"stream\":true");
    List<String> events = List.of("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
        + "\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Fo\"},\"finish_reason\":null}]}\n\n");
    call(runtime, KEY_B, stream, 200, "text/event-stream", events, false);
    assertEquals("miss", call(runtime, KEY_B, CHAT).cacheHeader());
  }

  @Test
  void aStreamThatEndsWithoutDoneIsNotStored() {
    String stream = CHAT.replace("\"temperature\":0", "\"temperature\":0,\"stream\":true");
    List<String> events = List.of("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
        + "\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Fo\"},\"finish_reason\":\"stop\"}]}\n\n");
    call(runtime, KEY_B, stream, 200, "text/event-stream", events, true);
    assertEquals("miss", call(runtime, KEY_B, CHAT).cacheHeader());
  }

  @Test
  void anErrorAnswerIsNotStored() {
    call(runtime, KEY_B, CHAT, 500, "application/json",
        List.of("{\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}"), true);
    assertEquals("miss", call(runtime, KEY_B, CHAT).cacheHeader());
  }

  @Test
  void noCacheSkipsTheLookupButStoresAndNoStoreDoesNeither() {
    assertEquals("bypass", call(runtime, KEY_B, CHAT, "cache-control", "no-store").cacheHeader());
    assertEquals("bypass", call(runtime, KEY_B, CHAT, "cache-control", "no-cache").cacheHeader());
    assertEquals("bypass", call(runtime, KEY_B, CHAT, "cache-control", "no-cache").cacheHeader());
    assertEquals("hit-exact", call(runtime, KEY_B, CHAT).cacheHeader());
  }

  @Test
  void withoutATemperatureOrAboveTheMaximumARequestIsNotCached() {
    String omitted = CHAT.replace("\"temperature\":0,", "");
    assertEquals("bypass", call(runtime, KEY_B, omitted).cacheHeader());
    assertEquals("bypass", call(runtime, KEY_B, omitted).cacheHeader());
    String warm = CHAT.replace("\"temperature\":0", "\"temperature\":0.7");
    assertEquals("bypass", call(runtime, KEY_B, warm).cacheHeader());
    String seeded = warm.replace("\"max_tokens\":50", "\"max_tokens\":50,\"seed\":1");
    assertEquals("miss", call(runtime, KEY_B, seeded).cacheHeader());
    assertEquals("hit-exact", call(runtime, KEY_B, seeded).cacheHeader());
    assertEquals("bypass", call(runtime, KEY_B, CHAT.replace("\"max_tokens\":50", "\"max_tokens\":50,\"n\":2"))
        .cacheHeader());
  }

  @Test
  void aHitCountsTowardTheRequestRateButConsumesNoTokens() {
    // tpm 160 admits one reservation (prompt estimate + max_tokens 50) on top of the 31 tokens the
    // first answer used, but not if the two hits had also been charged 31 each.
    assertEquals("miss", call(runtime, KEY_A, CHAT).cacheHeader());
    assertEquals("hit-exact", call(runtime, KEY_A, CHAT).cacheHeader());
    assertEquals("hit-exact", call(runtime, KEY_A, CHAT).cacheHeader());
    Outcome other = call(runtime, KEY_A, CHAT.replace("2+2", "3+3"));
    assertEquals("miss", other.cacheHeader(), other.body());
    Outcome fifth = call(runtime, KEY_A, CHAT);
    assertEquals(429, fifth.status());
    assertTrue(fifth.body().contains("requests_per_minute_exceeded"), fifth.body());
  }

  @Test
  void aModelWithoutACachePolicyBelowAGlobalOneStillCachesAndAConsumerCanSwitchItOff() throws Exception {
    String yaml = CONFIG.replace("{ name: b, keys:", "{ name: b, cache: { tiers: [ none ] }, keys:");
    try (GatewayRuntime gw = runtime(yaml)) {
      call(gw, KEY_B, CHAT);
      assertEquals(null, call(gw, KEY_B, CHAT).cacheHeader());
      call(gw, KEY_A, CHAT);
      assertEquals("hit-exact", call(gw, KEY_A, CHAT).cacheHeader());
    }
  }

  @Test
  void theCacheIsOffWithoutAPolicy() throws Exception {
    try (GatewayRuntime gw = runtime(CONFIG.replace("cache: { tiers: [ exact ], ttlSeconds: 600, allowSeed: true }",
        "limits: []"))) {
      call(gw, KEY_B, CHAT);
      Outcome second = call(gw, KEY_B, CHAT);
      assertEquals(null, second.cacheHeader());
      assertFalse(gw.stores().cache().shared());
    }
  }

  @Test
  void aParaphraseIsServedFromTheSemanticTierWithItsSimilarityAndANegationIsNot() throws Exception {
    String yaml = CONFIG.replace("tiers: [ exact ]", "tiers: [ exact, semantic ]");
    try (GatewayRuntime gw = runtime(yaml)) {
      String asked = "{\"model\":\"gpt-4o\",\"temperature\":0,\"max_tokens\":20,\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}";
      assertEquals("miss", call(gw, KEY_B, asked.formatted("How do I reverse a list in Python?")).cacheHeader());
      ((LuceneSemanticTier) gw.stores().cache().semanticTier()).awaitIndexed();
      RouterExchange x = new RouterExchange(gw);
      x.handle(requestHeaders(false, ":method", "POST", ":path", "/v1/chat/completions", "authorization",
          "Bearer " + KEY_B));
      ProcessingResponse r = x.handle(requestBody(asked.formatted("How can I reverse a list in Python?")));
      assertEquals("hit-semantic", setHeaders(r).get(CacheStage.HEADER));
      assertTrue(Double.parseDouble(setHeaders(r).get("x-weir-cache-similarity")) >= 0.9);
      assertEquals("miss", call(gw, KEY_B, asked.formatted("How do I not reverse a list in Python?")).cacheHeader());
      assertEquals("miss", call(gw, KEY_A, asked.formatted("How can I reverse a list in Python?")).cacheHeader(),
          "another consumer's partition");
    }
  }
}
