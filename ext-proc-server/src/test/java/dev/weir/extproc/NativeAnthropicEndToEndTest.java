package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.anthropic.client.AnthropicClient;
import com.anthropic.client.okhttp.AnthropicOkHttpClient;
import com.anthropic.core.JsonValue;
import com.anthropic.core.http.HttpResponseFor;
import com.anthropic.core.http.StreamResponse;
import com.anthropic.errors.UnauthorizedException;
import com.anthropic.errors.AnthropicException;
import com.anthropic.errors.BadRequestException;
import com.anthropic.errors.NotFoundException;
import com.anthropic.errors.RateLimitException;
import com.anthropic.helpers.MessageAccumulator;
import com.anthropic.models.ErrorType;
import com.anthropic.models.messages.ContentBlock;
import com.anthropic.models.messages.Message;
import com.anthropic.models.messages.MessageCreateParams;
import com.anthropic.models.messages.RawMessageStreamEvent;
import com.anthropic.models.messages.StopReason;
import com.anthropic.models.messages.Tool;
import com.anthropic.models.messages.ToolChoiceAny;
import com.anthropic.models.messages.ToolUseBlock;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.weir.config.ApiKeys;
import dev.weir.testkit.AnthropicDialect;
import dev.weir.testkit.ExchangeRequest;
import dev.weir.testkit.ExchangeResponse;
import dev.weir.testkit.ScriptedUpstream;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The official Anthropic Java SDK against {@code /v1/messages} through the gateway: authenticated
 * by a Weir key in {@code x-api-key}, limited, counted from Anthropic's usage (JSON and streamed),
 * routed to Anthropic backends only, with every gateway-made error in Anthropic's shape so the SDK
 * raises its own typed exceptions.
 */
class NativeAnthropicEndToEndTest {
  static final String CODER_KEY = "sk-weir-coder-0001";
  static final String STREAMER_KEY = "sk-weir-streamer-0002";
  static final String TOOLS_KEY = "sk-weir-tools-0003";
  static final String CUT_KEY = "sk-weir-cut-0004";
  static final String ANTHROPIC_SECRET = "sk-ant-upstream-secret";
  static final String MODEL = "claude-sonnet-4-5";
  static final ObjectMapper JSON = new ObjectMapper();
  static ScriptedUpstream anthropic;
  static ScriptedUpstream openai;
  static Gateway gw;

  @BeforeAll
  static void start() throws Exception {
    anthropic = new ScriptedUpstream("claude");
    openai = new ScriptedUpstream("openai");
    String yaml = """
        backends:
          - { name: claude, provider: anthropic, url: UPSTREAM, credential: { env: ANTHROPIC_KEY } }
          - { name: openai, provider: openai, url: %s, credential: { env: OPENAI_KEY } }
        pools:
          - { name: claude, members: [ { backend: claude, model: claude-sonnet-4-5-20250929 } ] }
          - { name: gpt, members: [ { backend: openai } ] }
        models:
          - { name: claude-sonnet-4-5, pool: claude }
          - { name: gpt-4o, pool: gpt }
        limits:
          - { name: tpm, tokensPerMinute: 5000 }
        consumers:
          - { name: coder, keys: [ "%s" ], models: [ "*" ], limits: [ tpm ] }
          - { name: streamer, keys: [ "%s" ], models: [ "*" ] }
          - { name: tools, keys: [ "%s" ], models: [ "*" ] }
          - { name: cut, keys: [ "%s" ], models: [ "*" ] }
        """.formatted(openai.url(), ApiKeys.hash(CODER_KEY), ApiKeys.hash(STREAMER_KEY), ApiKeys.hash(TOOLS_KEY),
        ApiKeys.hash(CUT_KEY));
    gw = new Gateway(yaml, anthropic, Map.of("ANTHROPIC_KEY", ANTHROPIC_SECRET, "OPENAI_KEY", "sk-openai"));
  }

  @AfterAll
  static void stop() {
    gw.close();
    anthropic.close();
    openai.close();
  }

  @BeforeEach
  void reset() {
    anthropic.reset();
    openai.reset();
  }

  private static AnthropicClient client(String key) {
    try {
      String v1 = gw.baseUrl();
      return AnthropicOkHttpClient.builder().apiKey(key).baseUrl(v1.substring(0, v1.length() - "/v1".length()))
          .maxRetries(0).build();
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private static MessageCreateParams.Builder hello(String model, long maxTokens) {
    return MessageCreateParams.builder().model(model).maxTokens(maxTokens).system("Be brief.").addUserMessage("Say hello");
  }

  @Test
  void messageFromTheAnthropicSdkIsAuthenticatedRoutedAndCountedFromAnthropicsUsage() {
    HttpResponseFor<Message> raw = client(CODER_KEY).messages().withRawResponse().create(hello(MODEL, 300).build());
    Message message = raw.parse();
    assertEquals("Hello from claude!", message.content().get(0).asText().text());
    assertEquals(11, message.usage().inputTokens());
    assertEquals(5, message.usage().outputTokens());
    assertEquals(List.of("claude"), raw.headers().values("x-weir-backend"));
    assertEquals(List.of("16"), raw.headers().values("x-weir-tokens-consumed"), "11 input + 5 output, as Anthropic reported");
    long reserved = Long.parseLong(raw.headers().values("x-weir-tokens-reserved").get(0));
    assertTrue(reserved > 300 && reserved < 330, "max_tokens plus the prompt estimate: " + reserved);

    ScriptedUpstream.Recorded r = anthropic.last();
    assertEquals("/v1/messages", r.path());
    assertEquals(ANTHROPIC_SECRET, r.header("x-api-key"), "the backend's key replaced the client's Weir key");
    assertNull(r.header("authorization"));
    JsonNode body = r.json();
    assertEquals("claude-sonnet-4-5-20250929", body.path("model").asText(), "the pool member's model");
    assertEquals(300, body.path("max_tokens").asInt());
    assertEquals("Be brief.", body.path("system").asText());
    assertEquals(Integer.toString(r.body().length), r.header("content-length"));
  }

  @Test
  void streamedMessageArrivesAsAnthropicEventsAndIsCountedFromMessageDelta() throws Exception {
    MessageAccumulator accumulator = MessageAccumulator.create();
    try (StreamResponse<RawMessageStreamEvent> stream = client(STREAMER_KEY).messages()
        .createStreaming(hello(MODEL, 200).build())) {
      stream.stream().forEach(accumulator::accumulate);
    }
    Message message = accumulator.message();
    assertEquals("Hello from claude!", message.content().get(0).asText().text());
    assertEquals(StopReason.END_TURN, message.stopReason().orElseThrow());
    assertEquals(2, message.usage().outputTokens());
    assertTrue(anthropic.last().json().path("stream").asBoolean());
    assertTrue(anthropic.last().json().path("stream_options").isMissingNode(), "no OpenAI field reaches Anthropic");

    String metrics = gw.metricsContaining("consumer=\"streamer\",counted_by=\"backend\",model=\"" + MODEL + "\",type=\"output\"}");
    assertTrue(metrics.contains("weir_tokens_total{backend=\"claude\",consumer=\"streamer\",counted_by=\"backend\","
        + "model=\"" + MODEL + "\",type=\"input\"} 11.0"), "message_start's input tokens: " + metrics);
    assertTrue(metrics.contains("weir_tokens_total{backend=\"claude\",consumer=\"streamer\",counted_by=\"backend\","
        + "model=\"" + MODEL + "\",type=\"output\"} 2.0"), "message_delta's output tokens: " + metrics);
  }

  private static MessageCreateParams toolRequest() {
    return hello(MODEL, 256)
        .addTool(Tool.builder().name("get_weather").description("Weather in a city")
            .inputSchema(Tool.InputSchema.builder()
                .properties(JsonValue.from(Map.of("city", Map.of("type", "string")))).build())
            .build())
        .toolChoice(ToolChoiceAny.builder().build())
        .build();
  }

  @Test
  void toolUseComesBackAsAToolUseBlockPlainAndStreamed() {
    Message plain = client(TOOLS_KEY).messages().create(toolRequest());
    ToolUseBlock use = plain.content().stream().filter(ContentBlock::isToolUse).findFirst().orElseThrow().asToolUse();
    assertEquals("get_weather", use.name());
    assertEquals(JsonValue.from(Map.of("city", "Paris")), use._input());
    assertEquals(StopReason.TOOL_USE, plain.stopReason().orElseThrow());
    JsonNode sent = anthropic.last().json();
    assertEquals("any", sent.path("tool_choice").path("type").asText());
    assertEquals("get_weather", sent.path("tools").get(0).path("name").asText());

    MessageAccumulator accumulator = MessageAccumulator.create();
    try (StreamResponse<RawMessageStreamEvent> stream = client(TOOLS_KEY).messages().createStreaming(toolRequest())) {
      stream.stream().forEach(accumulator::accumulate);
    }
    ToolUseBlock streamed = accumulator.message().content().get(0).asToolUse();
    assertEquals("get_weather", streamed.name());
    assertEquals(JsonValue.from(Map.of("city", "Paris")), streamed._input());
  }

  @Test
  void limitRefusalIsTheSdksRateLimitException() {
    RateLimitException e = assertThrows(RateLimitException.class,
        () -> client(CODER_KEY).messages().create(hello(MODEL, 8000).build()));
    assertEquals(429, e.statusCode());
    assertEquals(ErrorType.RATE_LIMIT_ERROR, e.type().orElseThrow());
    assertTrue(e.getMessage().contains("reserved for the answer"), e.getMessage());
    assertEquals(List.of("tpm"), e.headers().values("x-weir-limit"));
    assertTrue(anthropic.received().isEmpty(), "a refused request never reaches the backend");
  }

  @Test
  void gatewayErrorsAreInAnthropicsShape() throws Exception {
    assertThrows(UnauthorizedException.class,
        () -> client("sk-weir-wrong-key-9999").messages().create(hello(MODEL, 10).build()));
    NotFoundException unknown = assertThrows(NotFoundException.class,
        () -> client(CODER_KEY).messages().create(hello("claude-unknown", 10).build()));
    assertEquals(ErrorType.NOT_FOUND_ERROR, unknown.type().orElseThrow());

    ExchangeResponse noMaxTokens = gw.envoy.send(ExchangeRequest.post("/v1/messages",
        "{\"model\":\"claude-sonnet-4-5\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
        "x-api-key", CODER_KEY));
    assertEquals(400, noMaxTokens.status());
    JsonNode error = JSON.readTree(noMaxTokens.body());
    assertEquals("error", error.path("type").asText(), noMaxTokens.bodyText());
    assertEquals("invalid_request_error", error.path("error").path("type").asText());
    assertEquals("max_tokens: Field required", error.path("error").path("message").asText());
    assertTrue(anthropic.received().isEmpty());
  }

  @Test
  void openAiOnlyBackendRefusesMessagesWithAClearAnthropicError() {
    BadRequestException e = assertThrows(BadRequestException.class,
        () -> client(CODER_KEY).messages().create(hello("gpt-4o", 50).build()));
    assertEquals(ErrorType.INVALID_REQUEST_ERROR, e.type().orElseThrow());
    assertTrue(e.getMessage().contains("cannot answer /v1/messages"), e.getMessage());
    assertTrue(openai.received().isEmpty(), "the OpenAI backend is never sent a Messages request");
  }

  @Test
  void claudeCodeStyleRequestWithBearerKeyBetaQueryAndBetaHeaderPassesThrough() throws Exception {
    ExchangeResponse r = gw.envoy.send(ExchangeRequest.post("/v1/messages?beta=true",
        "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":64,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
        "authorization", "Bearer " + TOOLS_KEY, "anthropic-beta", "interleaved-thinking-2025-05-14",
        "anthropic-version", "2023-06-01"));
    assertEquals(200, r.status(), r.bodyText());
    assertEquals("message", JSON.readTree(r.body()).path("type").asText());
    ScriptedUpstream.Recorded sent = anthropic.last();
    assertEquals("/v1/messages", sent.path());
    assertEquals("interleaved-thinking-2025-05-14", sent.header("anthropic-beta"));
    assertNull(sent.header("authorization"), "the Weir key in Authorization is removed too");
    assertEquals(ANTHROPIC_SECRET, sent.header("x-api-key"));
  }

  @Test
  void weirKeyInXApiKeyServesOpenAiClientsTooAndNeverReachesTheBackend() {
    ExchangeResponse r = gw.envoy.send(ExchangeRequest.post("/v1/chat/completions",
        "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", "x-api-key", TOOLS_KEY));
    assertEquals(200, r.status(), r.bodyText());
    assertNull(openai.last().header("x-api-key"), "the client's Weir key is removed");
    assertEquals("Bearer sk-openai", openai.last().header("authorization"));
  }

  @Test
  void errorEventMidStreamReachesTheSdkAndChargesMessageStartsInputAndWhatWasStreamed() throws Exception {
    List<String> events = new java.util.ArrayList<>(AnthropicDialect.textEvents("claude-sonnet-4-5-20250929",
        List.of("Hello there"), 40).subList(0, 4));
    events.add(AnthropicDialect.event("error",
        "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded mid-stream\"}}"));
    anthropic.enqueue(new ScriptedUpstream.Sse(events, java.time.Duration.ZERO));
    AnthropicException e = assertThrows(AnthropicException.class, () -> {
      try (StreamResponse<RawMessageStreamEvent> stream = client(CUT_KEY).messages()
          .createStreaming(hello(MODEL, 100).build())) {
        stream.stream().forEach(event -> { });
      }
    });
    assertTrue(String.valueOf(e.getMessage()).contains("Overloaded"), e.toString());

    String prefix = "weir_tokens_total{backend=\"claude\",consumer=\"cut\",counted_by=\"gateway\",model=\"" + MODEL + "\",type=";
    String metrics = gw.metricsContaining(prefix + "\"output\"}");
    assertTrue(metrics.contains(prefix + "\"input\"} 40.0"), "message_start's input tokens: " + metrics);
    assertTrue(metrics.contains(prefix + "\"output\"} 2.0"), "\"Hello there\" as streamed: " + metrics);
  }
}
