package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.JsonValue;
import com.openai.core.http.HttpResponseFor;
import com.openai.core.http.StreamResponse;
import com.openai.errors.OpenAIException;
import com.openai.errors.PermissionDeniedException;
import com.openai.errors.RateLimitException;
import com.openai.models.FunctionDefinition;
import com.openai.models.FunctionParameters;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionFunctionTool;
import com.openai.models.chat.completions.ChatCompletionMessageToolCall;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.chat.completions.ChatCompletionToolChoiceOption;
import dev.weir.config.ApiKeys;
import dev.weir.testkit.BedrockDialect;
import dev.weir.testkit.ExchangeResponse;
import dev.weir.testkit.ScriptedUpstream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The official OpenAI Java SDK against an AWS Bedrock backend through the gateway: plain, streamed
 * and tool-calling chat completions translated to Converse / ConverseStream and back, every request
 * SigV4-signed with credentials from a profile file and verified at the upstream with the AWS SDK,
 * and broken streams (an exception frame, a frame with a bad checksum) surfaced as OpenAI errors
 * with the token reservation settled.
 */
class BedrockEndToEndTest {
  static final String KEY = "sk-weir-bedrock-test-0001";
  static final String CLAUDE = "anthropic.claude-3-5-sonnet-20240620-v1:0";
  static final long TOKENS_PER_MINUTE = 100_000;
  static ScriptedUpstream bedrock;
  static ScriptedUpstream local;
  static Path profiles;
  static Gateway gw;

  @BeforeAll
  static void start() throws Exception {
    bedrock = new ScriptedUpstream("bedrock");
    local = new ScriptedUpstream("local");
    profiles = Files.createTempFile("weir-aws-credentials", "");
    Files.writeString(profiles, """
        [weir]
        aws_access_key_id = %s
        aws_secret_access_key = %s
        aws_session_token = %s

        [wrong-secret]
        aws_access_key_id = %s
        aws_secret_access_key = not-the-secret-the-upstream-knows
        """.formatted(BedrockDialect.ACCESS_KEY_ID, BedrockDialect.SECRET_ACCESS_KEY,
        BedrockDialect.SESSION_TOKEN, BedrockDialect.ACCESS_KEY_ID));
    String yaml = """
        backends:
          - name: bedrock
            provider: bedrock
            url: UPSTREAM
            region: us-east-1
            aws: { profile: weir, profileFile: "%1$s" }
          - name: bedrock-wrong-secret
            provider: bedrock
            url: UPSTREAM
            region: us-east-1
            aws: { profile: wrong-secret, profileFile: "%1$s" }
          - name: local
            provider: openai-compatible
            url: %7$s
        pools:
          - name: claude
            members: [ { backend: bedrock, model: "%2$s" } ]
          - name: wrong-secret
            members: [ { backend: bedrock-wrong-secret, model: "%2$s" } ]
          - name: throttled
            members: [ { backend: bedrock, model: "%3$s" } ]
          - name: corrupt
            members: [ { backend: bedrock, model: "%4$s" } ]
          - name: spill
            strategy: priority
            members:
              - { backend: bedrock, priority: 0, model: "%2$s" }
              - { backend: local, priority: 1 }
        models:
          - { name: claude, pool: claude }
          - { name: wrong-secret, pool: wrong-secret }
          - { name: throttled, pool: throttled }
          - { name: corrupt, pool: corrupt }
          - { name: spill, pool: spill }
        limits:
          - { name: tpm, tokensPerMinute: %5$d }
        consumers:
          - name: app
            keys: [ "%6$s" ]
            models: [ "*" ]
            limits: [ tpm ]
        """.formatted(profiles, CLAUDE, BedrockDialect.THROTTLED_MID_STREAM, BedrockDialect.BAD_CHECKSUM,
        TOKENS_PER_MINUTE, ApiKeys.hash(KEY), local.url());
    gw = new Gateway(yaml, bedrock, Map.of());
  }

  @AfterAll
  static void stop() throws Exception {
    gw.close();
    bedrock.close();
    local.close();
    Files.deleteIfExists(profiles);
  }

  @BeforeEach
  void reset() {
    bedrock.reset();
    local.reset();
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
  void chatCompletionIsTranslatedToConverseSignedAndTranslatedBack() {
    HttpResponseFor<ChatCompletion> raw = client().chat().completions().withRawResponse()
        .create(chat("claude").maxCompletionTokens(100).temperature(0.0).stop("END").build());
    ChatCompletion completion = raw.parse();
    assertEquals("Hello from bedrock!", completion.choices().get(0).message().content().orElseThrow());
    assertEquals(ChatCompletion.Choice.FinishReason.STOP, completion.choices().get(0).finishReason());
    var usage = completion.usage().orElseThrow();
    assertEquals(13, usage.promptTokens(), "10 + one message + 2 read from Bedrock's prompt cache");
    assertEquals(2, usage.promptTokensDetails().orElseThrow().cachedTokens().orElseThrow());
    assertEquals(5, usage.completionTokens());
    assertEquals(List.of("18"), raw.headers().values("x-weir-tokens-consumed"), "limits count Bedrock's usage");

    ScriptedUpstream.Recorded r = bedrock.last();
    assertEquals("/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse", r.path());
    assertTrue(r.header("authorization").startsWith("AWS4-HMAC-SHA256 Credential=" + BedrockDialect.ACCESS_KEY_ID
        + "/"), r.header("authorization"));
    assertTrue(r.header("authorization").contains("/us-east-1/bedrock/aws4_request"), r.header("authorization"));
    assertEquals(BedrockDialect.SESSION_TOKEN, r.header("x-amz-security-token"));
    JsonNode body = r.json();
    assertTrue(body.path("model").isMissingNode(), "Converse names the model in the path");
    assertEquals("Be brief.", body.path("system").get(0).path("text").asText());
    assertEquals(100, body.path("inferenceConfig").path("maxTokens").asInt());
    assertEquals(0.0, body.path("inferenceConfig").path("temperature").asDouble());
    assertEquals("END", body.path("inferenceConfig").path("stopSequences").get(0).asText());
    assertEquals("Say hello", body.path("messages").get(0).path("content").get(0).path("text").asText());
    assertEquals(Integer.toString(r.body().length), r.header("content-length"));
  }

  @Test
  void streamedAnswerBecomesOpenAiChunksWithUsage() {
    try (StreamResponse<ChatCompletionChunk> stream = client().chat().completions().createStreaming(
        chat("claude").streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build())) {
      List<ChatCompletionChunk> chunks = stream.stream().toList();
      String text = chunks.stream().flatMap(c -> c.choices().stream())
          .map(c -> c.delta().content().orElse("")).collect(Collectors.joining());
      assertEquals("Hello from bedrock!", text);
      assertTrue(chunks.stream().anyMatch(c -> c.choices().stream().anyMatch(ch ->
          ch.finishReason().map(f -> f.equals(ChatCompletionChunk.Choice.FinishReason.STOP)).orElse(false))));
      ChatCompletionChunk last = chunks.get(chunks.size() - 1);
      assertEquals(13, last.usage().orElseThrow().promptTokens());
      assertEquals(3, last.usage().orElseThrow().completionTokens());
    }
    assertEquals("/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream", bedrock.last().path());
  }

  @Test
  void usageChunkIsHiddenFromClientsThatDidNotAskForIt() {
    try (StreamResponse<ChatCompletionChunk> stream = client().chat().completions().createStreaming(chat("claude").build())) {
      assertTrue(stream.stream().noneMatch(c -> c.usage().isPresent()));
    }
  }

  private static ChatCompletionCreateParams toolRequest() {
    return chat("claude").addTool(ChatCompletionFunctionTool.builder().function(FunctionDefinition.builder()
            .name("get_weather").description("Weather in a city")
            .parameters(FunctionParameters.builder().putAdditionalProperty("type", JsonValue.from("object"))
                .putAdditionalProperty("properties", JsonValue.from(Map.of("city", Map.of("type", "string"))))
                .build()).build()).build())
        .toolChoice(ChatCompletionToolChoiceOption.Auto.REQUIRED).build();
  }

  @Test
  void toolCallsAreTranslatedBothWays() {
    ChatCompletion completion = client().chat().completions().create(toolRequest());
    ChatCompletionMessageToolCall call = completion.choices().get(0).message().toolCalls().orElseThrow().get(0);
    assertEquals("get_weather", call.asFunction().function().name());
    assertEquals("tooluse_scripted", call.asFunction().id());
    assertEquals("{\"city\":\"Paris\"}", call.asFunction().function().arguments());
    assertEquals(ChatCompletion.Choice.FinishReason.TOOL_CALLS, completion.choices().get(0).finishReason());
    JsonNode toolConfig = bedrock.last().json().path("toolConfig");
    assertTrue(toolConfig.path("toolChoice").has("any"), toolConfig.toString());
    JsonNode spec = toolConfig.path("tools").get(0).path("toolSpec");
    assertEquals("get_weather", spec.path("name").asText());
    assertEquals("object", spec.path("inputSchema").path("json").path("type").asText());
  }

  @Test
  void streamedToolCallArgumentsArriveAsOpenAiDeltas() {
    try (StreamResponse<ChatCompletionChunk> stream = client().chat().completions().createStreaming(toolRequest())) {
      List<ChatCompletionChunk> chunks = stream.stream().toList();
      String args = chunks.stream().flatMap(c -> c.choices().stream())
          .flatMap(c -> c.delta().toolCalls().orElse(List.of()).stream())
          .map(t -> t.function().flatMap(f -> f.arguments()).orElse("")).collect(Collectors.joining());
      assertEquals("{\"city\": \"Paris\"}", args);
      String name = chunks.stream().flatMap(c -> c.choices().stream())
          .flatMap(c -> c.delta().toolCalls().orElse(List.of()).stream())
          .map(t -> t.function().flatMap(f -> f.name()).orElse("")).collect(Collectors.joining());
      assertEquals("get_weather", name);
      assertTrue(chunks.stream().anyMatch(c -> c.choices().stream().anyMatch(ch -> ch.finishReason()
          .map(f -> f.equals(ChatCompletionChunk.Choice.FinishReason.TOOL_CALLS)).orElse(false))));
    }
  }

  @Test
  void toolResultsGoBackAsToolResultBlocks() {
    String body = """
        {"model":"claude","messages":[
          {"role":"user","content":"Weather in Paris?"},
          {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",
             "function":{"name":"get_weather","arguments":"{\\"city\\":\\"Paris\\"}"}}]},
          {"role":"tool","tool_call_id":"call_1","content":"18 C and sunny"}],
         "tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}]}""";
    ExchangeResponse response = gw.chat(KEY, body);
    assertEquals(200, response.status(), response.bodyText());
    JsonNode messages = bedrock.last().json().path("messages");
    JsonNode use = messages.get(1).path("content").get(0).path("toolUse");
    assertEquals("call_1", use.path("toolUseId").asText());
    assertEquals("Paris", use.path("input").path("city").asText());
    JsonNode result = messages.get(2).path("content").get(0).path("toolResult");
    assertEquals("call_1", result.path("toolUseId").asText());
    assertEquals("18 C and sunny", result.path("content").get(0).path("text").asText());
  }

  @Test
  void requestSignedWithTheWrongSecretIsRefusedByTheUpstreamAsAnOpenAiError() {
    PermissionDeniedException e = assertThrows(PermissionDeniedException.class,
        () -> client().chat().completions().create(chat("wrong-secret").build()));
    assertTrue(e.getMessage().contains("signature we calculated does not match"), e.getMessage());
    assertNull(bedrock.last().header("x-amz-security-token"), "a profile without a session token sends none");
  }

  @Test
  void throttledBedrockIsAnOpenAiRateLimitError() {
    // Every attempt, so Envoy's retries of a 429 end on one too.
    bedrock.fallback(new ScriptedUpstream.Json(429, BedrockDialect.error("Too many requests, please wait.")));
    RateLimitException e = assertThrows(RateLimitException.class,
        () -> client().chat().completions().create(chat("claude").build()));
    assertTrue(e.getMessage().contains("Too many requests"), e.getMessage());
  }

  @Test
  void throttledBedrockFailsOverToAnOpenAiBackendWithoutItsAwsSessionToken() {
    bedrock.enqueue(new ScriptedUpstream.Json(429, BedrockDialect.error("Too many requests, please wait.")));
    HttpResponseFor<ChatCompletion> raw = client().chat().completions().withRawResponse().create(chat("spill").build());
    assertEquals("Hello from local!", raw.parse().choices().get(0).message().content().orElseThrow());
    assertEquals(List.of("local"), raw.headers().values("x-weir-backend"));
    assertEquals(BedrockDialect.SESSION_TOKEN, bedrock.last().header("x-amz-security-token"));
    ScriptedUpstream.Recorded retried = local.last();
    assertNull(retried.header("x-amz-security-token"), "a retry starts from the Bedrock attempt's headers");
    assertNull(retried.header("authorization"));
    assertEquals("/v1/chat/completions", retried.path());
    assertEquals("spill", retried.json().path("model").asText());
  }

  @Test
  void exceptionFrameMidStreamEndsTheStreamWithAnErrorAndSettlesTheReservation() {
    String stream = "{\"model\":\"throttled\",\"stream\":true,\"max_tokens\":500,"
        + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    ExchangeResponse failed = gw.chat(KEY, stream);
    String text = failed.bodyText();
    assertTrue(text.contains("\"content\":\"Hello \""), text);
    assertTrue(text.contains("Too many requests, please wait before trying again."), text);
    assertTrue(text.contains("\"code\":\"throttlingException\""), text);
    assertFalse(text.contains("[DONE]"), "a failed stream must not look complete: " + text);
    assertReservationSettledToWhatStreamed(failed);

    OpenAIException e = assertThrows(OpenAIException.class, () -> {
      try (StreamResponse<ChatCompletionChunk> s = client().chat().completions().createStreaming(chat("throttled").build())) {
        s.stream().forEach(c -> { });
      }
    });
    assertTrue(e.toString().contains("Too many requests"), e.toString());
  }

  @Test
  void frameWithABadChecksumEndsTheStreamWithAnErrorAndSettlesTheReservation() {
    ExchangeResponse failed = gw.chat(KEY, "{\"model\":\"corrupt\",\"stream\":true,\"max_tokens\":500,"
        + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    String text = failed.bodyText();
    assertTrue(text.contains("\"content\":\"Hello \""), "frames before the bad one are delivered: " + text);
    assertTrue(text.contains("malformed_stream"), text);
    assertFalse(text.contains("[DONE]"), text);
    assertReservationSettledToWhatStreamed(failed);

    OpenAIException e = assertThrows(OpenAIException.class, () -> {
      try (StreamResponse<ChatCompletionChunk> s = client().chat().completions().createStreaming(chat("corrupt").build())) {
        s.stream().forEach(c -> { });
      }
    });
    assertTrue(e.toString().contains("failed its checks"), e.toString());
  }

  /**
   * The failed stream reserved its prompt + 500 tokens; once settled, it holds only the prompt
   * and the one word that streamed. The next answer's remaining room shows what it holds.
   */
  private static void assertReservationSettledToWhatStreamed(ExchangeResponse failed) {
    long reservedBefore = Long.parseLong(failed.header("x-weir-tokens-reserved"));
    long remainingBefore = Long.parseLong(failed.header("x-ratelimit-remaining-tokens"));
    long prompt = reservedBefore - 500;
    ExchangeResponse next = gw.chat(KEY, "{\"model\":\"claude\",\"max_tokens\":300,"
        + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    assertEquals(200, next.status(), next.bodyText());
    long reservedNext = Long.parseLong(next.header("x-weir-tokens-reserved"));
    long remainingNext = Long.parseLong(next.header("x-ratelimit-remaining-tokens"));
    long heldByFailed = remainingBefore + reservedBefore - reservedNext - remainingNext;
    assertTrue(heldByFailed > prompt && heldByFailed <= prompt + 3,
        "the failed stream holds its prompt (" + prompt + ") and the streamed word, not its reservation: " + heldByFailed);
  }
}
