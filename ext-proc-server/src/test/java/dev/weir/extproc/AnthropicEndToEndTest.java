package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.JsonValue;
import com.openai.core.http.HttpResponseFor;
import com.openai.core.http.StreamResponse;
import com.openai.errors.OpenAIException;
import com.openai.models.FunctionDefinition;
import com.openai.models.FunctionParameters;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionFunctionTool;
import com.openai.models.chat.completions.ChatCompletionMessageToolCall;
import com.openai.models.chat.completions.ChatCompletionToolChoiceOption;
import dev.weir.config.ApiKeys;
import dev.weir.testkit.AnthropicDialect;
import dev.weir.testkit.ScriptedUpstream;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The official OpenAI Java SDK against Anthropic backends through the gateway: plain, streamed and
 * tool-calling chat completions translated both ways, Anthropic errors surfaced as OpenAI errors,
 * and failover from a throttled Azure deployment to Anthropic with one answer shape.
 */
class AnthropicEndToEndTest {
  static final String KEY = "sk-weir-anthropic-test-0001";
  static final String ANTHROPIC_SECRET = "sk-ant-upstream-secret";
  static final String METERED_KEY = "sk-weir-anthropic-test-0002";
  static ScriptedUpstream anthropic;
  static ScriptedUpstream azure;
  static Gateway gw;

  @BeforeAll
  static void start() throws Exception {
    anthropic = new ScriptedUpstream("claude");
    azure = new ScriptedUpstream("aoai");
    String yaml = """
        backends:
          - name: claude
            provider: anthropic
            url: UPSTREAM
            credential: { env: ANTHROPIC_KEY }
          - name: aoai
            provider: azure-openai
            url: %s
            apiVersion: "2024-10-21"
            credential: { env: AOAI_KEY }
        pools:
          - name: claude
            members: [ { backend: claude, model: claude-sonnet-4-5 } ]
          - name: mixed
            strategy: priority
            members:
              - { backend: aoai, priority: 0, deployment: gpt-4o }
              - { backend: claude, priority: 1, model: claude-sonnet-4-5 }
        models:
          - { name: claude, pool: claude }
          - { name: gpt-4o, pool: mixed }
        limits:
          - { name: quota, quota: { tokens: 1000000, period: month } }
        consumers:
          - name: app
            keys: [ "%s" ]
            models: [ "*" ]
          - name: metered
            keys: [ "%s" ]
            models: [ "*" ]
            limits: [ quota ]
        """.formatted(azure.url(), ApiKeys.hash(KEY), ApiKeys.hash(METERED_KEY));
    gw = new Gateway(yaml, anthropic, Map.of("ANTHROPIC_KEY", ANTHROPIC_SECRET, "AOAI_KEY", "azure-secret"));
  }

  @AfterAll
  static void stop() {
    gw.close();
    anthropic.close();
    azure.close();
  }

  @BeforeEach
  void reset() {
    anthropic.reset();
    azure.reset();
  }

  private static OpenAIClient client() {
    try {
      return OpenAIOkHttpClient.builder().apiKey(KEY).baseUrl(gw.baseUrl()).maxRetries(0).build();
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private static ChatCompletionCreateParams.Builder chat(String model) {
    return ChatCompletionCreateParams.builder().model(model)
        .addSystemMessage("Be brief.")
        .addUserMessage("Say hello");
  }

  @Test
  void chatCompletionIsTranslatedToMessagesAndBack() {
    HttpResponseFor<ChatCompletion> raw = client().chat().completions().withRawResponse()
        .create(chat("claude").maxCompletionTokens(100).temperature(0.0).stop("END").build());
    ChatCompletion completion = raw.parse();
    assertEquals("Hello from claude!", completion.choices().get(0).message().content().orElseThrow());
    assertEquals(ChatCompletion.Choice.FinishReason.STOP, completion.choices().get(0).finishReason());
    assertEquals(11, completion.usage().orElseThrow().promptTokens(), "10 + one message: the system prompt is not a message");
    assertEquals(5, completion.usage().orElseThrow().completionTokens());
    assertEquals(List.of("claude"), raw.headers().values("x-weir-backend"));

    ScriptedUpstream.Recorded r = anthropic.last();
    assertEquals("/v1/messages", r.path());
    assertEquals(ANTHROPIC_SECRET, r.header("x-api-key"));
    assertEquals("2023-06-01", r.header("anthropic-version"));
    assertEquals(null, r.header("authorization"), "the client's Weir key never reaches Anthropic");
    JsonNode body = r.json();
    assertEquals("claude-sonnet-4-5", body.path("model").asText());
    assertEquals("Be brief.", body.path("system").asText());
    assertEquals(100, body.path("max_tokens").asInt());
    assertEquals("END", body.path("stop_sequences").get(0).asText());
    assertEquals("user", body.path("messages").get(0).path("role").asText());
    assertEquals(Integer.toString(r.body().length), r.header("content-length"));
  }

  @Test
  void requestWithoutMaxTokensGetsTheDefault() {
    client().chat().completions().create(chat("claude").build());
    assertEquals(4096, anthropic.last().json().path("max_tokens").asInt());
  }

  @Test
  void streamedAnswerBecomesOpenAiChunksWithUsage() {
    try (StreamResponse<ChatCompletionChunk> stream = client().chat().completions().createStreaming(
        chat("claude").streamOptions(com.openai.models.chat.completions.ChatCompletionStreamOptions.builder()
            .includeUsage(true).build()).build())) {
      List<ChatCompletionChunk> chunks = stream.stream().toList();
      String text = chunks.stream().flatMap(c -> c.choices().stream())
          .map(c -> c.delta().content().orElse("")).collect(Collectors.joining());
      assertEquals("Hello from claude!", text);
      assertTrue(chunks.stream().anyMatch(c -> c.choices().stream().anyMatch(ch ->
          ch.finishReason().map(f -> f.equals(ChatCompletionChunk.Choice.FinishReason.STOP)).orElse(false))));
      ChatCompletionChunk last = chunks.get(chunks.size() - 1);
      assertEquals(11, last.usage().orElseThrow().promptTokens());
      assertEquals(2, last.usage().orElseThrow().completionTokens());
    }
    assertTrue(anthropic.last().json().path("stream").asBoolean());
  }

  @Test
  void usageChunkIsHiddenFromClientsThatDidNotAskForIt() {
    try (StreamResponse<ChatCompletionChunk> stream = client().chat().completions().createStreaming(chat("claude").build())) {
      assertTrue(stream.stream().noneMatch(c -> c.usage().isPresent()));
    }
  }

  private static ChatCompletionCreateParams toolRequest(boolean stream) {
    return chat("claude").addTool(ChatCompletionFunctionTool.builder().function(FunctionDefinition.builder()
            .name("get_weather").description("Weather in a city")
            .parameters(FunctionParameters.builder().putAdditionalProperty("type", JsonValue.from("object"))
                .putAdditionalProperty("properties", JsonValue.from(Map.of("city", Map.of("type", "string"))))
                .build()).build()).build())
        .toolChoice(ChatCompletionToolChoiceOption.Auto.REQUIRED).build();
  }

  @Test
  void toolCallsAreTranslatedBothWays() {
    ChatCompletion completion = client().chat().completions().create(toolRequest(false));
    ChatCompletionMessageToolCall call = completion.choices().get(0).message().toolCalls().orElseThrow().get(0);
    assertEquals("get_weather", call.asFunction().function().name());
    assertEquals("{\"city\":\"Paris\"}", call.asFunction().function().arguments());
    assertEquals(ChatCompletion.Choice.FinishReason.TOOL_CALLS, completion.choices().get(0).finishReason());
    JsonNode sent = anthropic.last().json();
    assertEquals("any", sent.path("tool_choice").path("type").asText());
    assertEquals("object", sent.path("tools").get(0).path("input_schema").path("type").asText());
  }

  @Test
  void streamedToolCallArgumentsArriveAsOpenAiDeltas() {
    try (StreamResponse<ChatCompletionChunk> stream = client().chat().completions().createStreaming(toolRequest(true))) {
      List<ChatCompletionChunk> chunks = stream.stream().toList();
      String args = chunks.stream().flatMap(c -> c.choices().stream())
          .flatMap(c -> c.delta().toolCalls().orElse(List.of()).stream())
          .map(t -> t.function().flatMap(f -> f.arguments()).orElse("")).collect(Collectors.joining());
      assertEquals("{\"city\": \"Paris\"}", args);
      String name = chunks.stream().flatMap(c -> c.choices().stream())
          .flatMap(c -> c.delta().toolCalls().orElse(List.of()).stream())
          .map(t -> t.function().flatMap(f -> f.name()).orElse("")).collect(Collectors.joining());
      assertEquals("get_weather", name);
    }
  }

  @Test
  void toolResultsGoBackAsToolResultBlocks() throws Exception {
    String body = """
        {"model":"claude","messages":[
          {"role":"user","content":"Weather in Paris?"},
          {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",
             "function":{"name":"get_weather","arguments":"{\\"city\\":\\"Paris\\"}"}}]},
          {"role":"tool","tool_call_id":"call_1","content":"18 C and sunny"}],
         "tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}]}""";
    var response = gw.chat(KEY, body);
    assertEquals(200, response.status(), response.bodyText());
    JsonNode messages = anthropic.last().json().path("messages");
    assertEquals("tool_use", messages.get(1).path("content").get(0).path("type").asText());
    assertEquals("Paris", messages.get(1).path("content").get(0).path("input").path("city").asText());
    assertEquals("tool_result", messages.get(2).path("content").get(0).path("type").asText());
    assertEquals("call_1", messages.get(2).path("content").get(0).path("tool_use_id").asText());
  }

  @Test
  void throttledAzureFailsOverToAnthropicAndTheClientSeesOneShape() {
    azure.enqueue(ScriptedUpstream.tooManyRequests(0));
    HttpResponseFor<ChatCompletion> raw = client().chat().completions().withRawResponse().create(chat("gpt-4o").build());
    ChatCompletion completion = raw.parse();
    assertEquals("Hello from claude!", completion.choices().get(0).message().content().orElseThrow());
    assertEquals(List.of("claude"), raw.headers().values("x-weir-backend"));
    assertEquals(1, azure.received().size());
    assertEquals("claude-sonnet-4-5", anthropic.last().json().path("model").asText());

    HttpResponseFor<ChatCompletion> again = client().chat().completions().withRawResponse().create(chat("gpt-4o").build());
    assertEquals("Hello from aoai!", again.parse().choices().get(0).message().content().orElseThrow());
  }

  @Test
  void overloadedAnthropicIsAnOpenAiError() {
    // 529 is retried (Envoy's default of one retry for a one-member pool); both attempts are overloaded.
    anthropic.enqueue(new ScriptedUpstream.Json(529, AnthropicDialect.error("overloaded_error", "Overloaded")),
        new ScriptedUpstream.Json(529, AnthropicDialect.error("overloaded_error", "Overloaded")));
    OpenAIException e = assertThrows(OpenAIException.class,
        () -> client().chat().completions().create(chat("claude").build()));
    assertTrue(e.getMessage().contains("Overloaded"), e.getMessage());
    assertEquals(2, anthropic.received().size(), "a 529 is retried");
  }

  @Test
  void errorEventMidStreamEndsTheStreamWithAnError() {
    List<String> events = new java.util.ArrayList<>(AnthropicDialect.textEvents("claude-sonnet-4-5", List.of("Hel"), 12)
        .subList(0, 4));
    events.add(AnthropicDialect.event("error",
        "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded mid-stream\"}}"));
    anthropic.enqueue(new ScriptedUpstream.Sse(events, Duration.ZERO));
    var response = gw.chat(KEY, "{\"model\":\"claude\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    String text = response.bodyText();
    assertTrue(text.contains("\"content\":\"Hel\""), text);
    assertTrue(text.contains("Overloaded mid-stream"), text);
    assertFalse(text.contains("[DONE]"), "a failed stream must not look complete: " + text);

    anthropic.enqueue(new ScriptedUpstream.Sse(events, Duration.ZERO));
    OpenAIException e = assertThrows(OpenAIException.class, () -> {
      try (StreamResponse<ChatCompletionChunk> stream = client().chat().completions().createStreaming(chat("claude").build())) {
        stream.stream().forEach(c -> { });
      }
    });
    assertTrue(String.valueOf(e.getMessage()).contains("Overloaded mid-stream") || e.toString().contains("Overloaded"),
        e.toString());
  }

  @Test
  void malformedEventEndsTheStreamWithAnError() {
    anthropic.enqueue(new ScriptedUpstream.Sse(List.of(
        AnthropicDialect.textEvents("claude-sonnet-4-5", List.of("Hi"), 12).get(0),
        "event: content_block_delta\ndata: {not json\n\n"), Duration.ZERO));
    var response = gw.chat(KEY, "{\"model\":\"claude\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    assertTrue(response.bodyText().contains("malformed_stream"), response.bodyText());
  }

  private static long quotaRemaining() {
    var r = gw.chat(METERED_KEY, "{\"model\":\"claude\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    assertEquals(200, r.status(), r.toString());
    // What the next request saw before its own reservation, plus that reservation.
    return Long.parseLong(r.headers().get("x-weir-quota-remaining-tokens"))
        + Long.parseLong(r.headers().get("x-weir-tokens-reserved"));
  }

  @Test
  void aStreamThatFailsMidWayIsChargedForWhatStreamedNotForItsReservation() {
    long before = quotaRemaining();
    List<String> events = new java.util.ArrayList<>(AnthropicDialect.textEvents("claude-sonnet-4-5",
        List.of("Hel"), 12).subList(0, 4));
    events.add(AnthropicDialect.event("error",
        "{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"Internal error\"}}"));
    anthropic.enqueue(new ScriptedUpstream.Sse(events, Duration.ZERO));
    var failed = gw.chat(METERED_KEY, "{\"model\":\"claude\",\"stream\":true,\"max_tokens\":4000,"
        + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    assertTrue(failed.bodyText().contains("Internal error"), failed.bodyText());
    long after = quotaRemaining();
    // The previous probe (a served request) and the failed stream were charged; the 4,000-token
    // reservation was not kept.
    long charged = before - after;
    assertTrue(charged > 0 && charged < 200, "charged " + charged + " tokens");
  }
}
