package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.HttpResponseFor;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.errors.RateLimitException;
import com.openai.models.responses.Response;
import com.openai.models.responses.ResponseCreateParams;
import com.openai.models.responses.ResponseStreamEvent;
import com.openai.models.responses.ResponseUsage;
import dev.weir.config.ApiKeys;
import dev.weir.testkit.ResponsesDialect;
import dev.weir.testkit.ScriptedUpstream;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The official OpenAI Java SDK's {@code responses()} API through the gateway, plain and streamed,
 * to OpenAI and Azure OpenAI backends: usage read from the Responses shape (cached and reasoning
 * details included) and from {@code response.completed}, limits reserving {@code max_output_tokens},
 * and Anthropic backends refusing the operation clearly.
 */
class ResponsesEndToEndTest {
  static final String APP_KEY = "sk-weir-responses-app-0001";
  static final String METERED_KEY = "sk-weir-responses-metered-0002";
  static final String OPENAI_SECRET = "sk-openai-upstream";
  static final String AZURE_SECRET = "azure-upstream";
  static ScriptedUpstream openai;
  static ScriptedUpstream azure;
  static ScriptedUpstream anthropic;
  static Gateway gw;

  @BeforeAll
  static void start() throws Exception {
    openai = new ScriptedUpstream("openai");
    azure = new ScriptedUpstream("aoai");
    anthropic = new ScriptedUpstream("claude");
    String yaml = """
        backends:
          - { name: openai, provider: openai, url: UPSTREAM, credential: { env: OPENAI_KEY } }
          - { name: aoai, provider: azure-openai, url: %s, apiVersion: "2024-10-21", credential: { env: AOAI_KEY } }
          - { name: claude, provider: anthropic, url: %s, credential: { env: ANTHROPIC_KEY } }
        pools:
          - { name: gpt, members: [ { backend: openai, model: gpt-4o-2024-08-06 } ] }
          - { name: azure, members: [ { backend: aoai, deployment: gpt-4o-ptu } ] }
          - { name: claude, members: [ { backend: claude } ] }
        models:
          - { name: gpt-4o, pool: gpt }
          - { name: gpt-4o-azure, pool: azure }
          - { name: claude, pool: claude }
        limits:
          - { name: tpm, tokensPerMinute: 5000 }
        consumers:
          - { name: app, keys: [ "%s" ], models: [ "*" ], limits: [ tpm ] }
          - { name: metered, keys: [ "%s" ], models: [ "*" ] }
        """.formatted(azure.url(), anthropic.url(), ApiKeys.hash(APP_KEY), ApiKeys.hash(METERED_KEY));
    gw = new Gateway(yaml, openai, Map.of("OPENAI_KEY", OPENAI_SECRET, "AOAI_KEY", AZURE_SECRET, "ANTHROPIC_KEY", "ant"));
  }

  @AfterAll
  static void stop() {
    gw.close();
    openai.close();
    azure.close();
    anthropic.close();
  }

  @BeforeEach
  void reset() {
    openai.reset();
    azure.reset();
    anthropic.reset();
  }

  private static OpenAIClient client(String key) {
    try {
      return OpenAIOkHttpClient.builder().apiKey(key).baseUrl(gw.baseUrl()).maxRetries(0).build();
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private static ResponseCreateParams.Builder hello(String model) {
    return ResponseCreateParams.builder().model(model).instructions("Be brief.").input("Say hello");
  }

  private static String text(Response response) {
    return response.output().get(0).message().orElseThrow().content().get(0).outputText().orElseThrow().text();
  }

  @Test
  void responseIsServedByOpenAiAndCountedFromItsUsage() {
    HttpResponseFor<Response> raw = client(APP_KEY).responses().withRawResponse()
        .create(hello("gpt-4o").maxOutputTokens(100).build());
    Response response = raw.parse();
    assertEquals("Hello from openai!", text(response));
    ResponseUsage usage = response.usage().orElseThrow();
    assertEquals(ResponsesDialect.INPUT_TOKENS, usage.inputTokens());
    assertEquals(ResponsesDialect.REASONING_TOKENS, usage.outputTokensDetails().reasoningTokens());
    assertEquals(List.of(Long.toString(usage.inputTokens() + usage.outputTokens())),
        raw.headers().values("x-weir-tokens-consumed"), "the backend's input and output tokens");
    long reserved = Long.parseLong(raw.headers().values("x-weir-tokens-reserved").get(0));
    assertTrue(reserved > 100 && reserved < 120, "max_output_tokens plus the estimate of instructions and input: " + reserved);

    ScriptedUpstream.Recorded r = openai.last();
    assertEquals("/v1/responses", r.path());
    assertEquals("Bearer " + OPENAI_SECRET, r.header("authorization"));
    assertEquals("gpt-4o-2024-08-06", r.json().path("model").asText());
    assertEquals(100, r.json().path("max_output_tokens").asInt());
  }

  @Test
  void streamedResponseIsCountedFromResponseCompleted() throws Exception {
    try (StreamResponse<ResponseStreamEvent> stream = client(METERED_KEY).responses()
        .createStreaming(hello("gpt-4o").build())) {
      List<ResponseStreamEvent> events = stream.stream().toList();
      String text = events.stream().flatMap(e -> e.outputTextDelta().stream()).map(d -> d.delta())
          .collect(Collectors.joining());
      assertEquals("Hello from openai!", text);
      assertTrue(events.get(events.size() - 1).completed().isPresent());
    }
    JsonNode sent = openai.last().json();
    assertTrue(sent.path("stream").asBoolean());
    assertTrue(sent.path("stream_options").isMissingNode(), "the Responses API has no include_usage to ask for");

    String prefix = "weir_tokens_total{backend=\"openai\",consumer=\"metered\",counted_by=\"backend\",model=\"gpt-4o\",type=";
    String metrics = gw.metricsContaining(prefix + "\"reasoning\"}");
    assertTrue(metrics.contains(prefix + "\"input\"} " + ResponsesDialect.INPUT_TOKENS + ".0"), metrics);
    assertTrue(metrics.contains(prefix + "\"output\"} 5.0"), "three words and two reasoning tokens: " + metrics);
    assertTrue(metrics.contains(prefix + "\"cached_input\"} " + ResponsesDialect.CACHED_TOKENS + ".0"), metrics);
    assertTrue(metrics.contains(prefix + "\"reasoning\"} " + ResponsesDialect.REASONING_TOKENS + ".0"), metrics);
  }

  @Test
  void azureServesResponsesOnItsV1PathWithTheDeploymentAsModel() {
    Response response = client(APP_KEY).responses().create(hello("gpt-4o-azure").build());
    assertEquals("Hello from aoai!", text(response));
    ScriptedUpstream.Recorded r = azure.last();
    assertEquals("/openai/v1/responses", r.path());
    assertEquals(AZURE_SECRET, r.header("api-key"));
    assertNull(r.header("authorization"), "the client's Weir key never reaches Azure");
    assertEquals("gpt-4o-ptu", r.json().path("model").asText());
    assertEquals(Integer.toString(r.body().length), r.header("content-length"));

    try (StreamResponse<ResponseStreamEvent> stream = client(APP_KEY).responses()
        .createStreaming(hello("gpt-4o-azure").build())) {
      assertEquals("Hello from aoai!", stream.stream().flatMap(e -> e.outputTextDelta().stream())
          .map(d -> d.delta()).collect(Collectors.joining()));
    }
  }

  @Test
  void maxOutputTokensBeyondTheLimitIsRefusedBeforeTheBackend() {
    RateLimitException e = assertThrows(RateLimitException.class,
        () -> client(APP_KEY).responses().create(hello("gpt-4o").maxOutputTokens(8000).build()));
    assertTrue(e.getMessage().contains("reserved for the answer"), e.getMessage());
    assertTrue(openai.received().isEmpty());
  }

  @Test
  void anthropicBackendRefusesTheResponsesApiClearly() {
    BadRequestException e = assertThrows(BadRequestException.class,
        () -> client(APP_KEY).responses().create(hello("claude").build()));
    assertTrue(e.getMessage().contains("cannot answer /v1/responses"), e.getMessage());
    assertTrue(anthropic.received().isEmpty());
  }
}
