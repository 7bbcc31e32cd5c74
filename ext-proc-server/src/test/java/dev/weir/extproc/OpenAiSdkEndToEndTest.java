package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.HttpResponseFor;
import com.openai.core.http.StreamResponse;
import com.openai.errors.NotFoundException;
import com.openai.errors.PermissionDeniedException;
import com.openai.errors.UnauthorizedException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.embeddings.CreateEmbeddingResponse;
import com.openai.models.embeddings.EmbeddingCreateParams;
import com.openai.models.models.Model;
import dev.weir.testkit.ScriptedUpstream;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The official OpenAI Java SDK as the client, through the Envoy test-kit and the real ext_proc
 * server, to scripted backends over real HTTP.
 */
class OpenAiSdkEndToEndTest {
  @TempDir static Path dir;
  static GatewayFixture gw;

  @BeforeAll
  static void start() throws Exception {
    gw = new GatewayFixture(dir);
  }

  @AfterAll
  static void stop() {
    gw.close();
  }

  @BeforeEach
  void resetUpstreams() {
    gw.azure.reset();
    gw.openai.reset();
    gw.local.reset();
  }

  private static OpenAIClient client(String key) {
    return OpenAIOkHttpClient.builder().apiKey(key).baseUrl(gw.baseUrl()).maxRetries(0).build();
  }

  private static ChatCompletionCreateParams chat(String model) {
    return ChatCompletionCreateParams.builder().model(model).addUserMessage("Say hello").build();
  }

  @Test
  void nonStreamingChatIsServedByThePriorityZeroAzureDeployment() {
    HttpResponseFor<ChatCompletion> raw = client(GatewayFixture.FINANCE_KEY).chat().completions()
        .withRawResponse().create(chat("gpt-4o"));
    ChatCompletion completion = raw.parse();
    assertEquals("Hello from aoai!", completion.choices().get(0).message().content().orElseThrow());
    assertEquals(List.of("aoai-eastus"), raw.headers().values("x-weir-backend"));
    assertEquals(17, completion.usage().orElseThrow().totalTokens());
  }

  @Test
  void azureAttemptIsTranslatedAndCarriesOnlyTheBackendKey() {
    client(GatewayFixture.FINANCE_KEY).chat().completions().create(chat("gpt-4o"));
    ScriptedUpstream.Recorded r = gw.azure.last();
    assertEquals("/openai/deployments/gpt-4o-ptu/chat/completions?api-version=2024-10-21", r.path());
    assertEquals(GatewayFixture.AZURE_SECRET, r.header("api-key"));
    assertNull(r.header("authorization"), "the client's bearer key must not reach Azure");
    assertEquals("gpt-4o", r.json().path("model").asText());
    assertTrue(gw.openai.received().isEmpty(), "priority 1 is not used while priority 0 answers");
  }

  @Test
  void clientKeyNeverReachesAnyUpstream() {
    client(GatewayFixture.FINANCE_KEY).chat().completions().create(chat("gpt-4o"));
    gw.azure.enqueue(ScriptedUpstream.status(503));
    client(GatewayFixture.FINANCE_KEY).chat().completions().create(chat("gpt-4o"));
    for (ScriptedUpstream u : List.of(gw.azure, gw.openai)) {
      for (ScriptedUpstream.Recorded r : u.received()) {
        for (Map.Entry<String, String> h : r.headers().entries()) {
          assertFalse(h.getValue().contains(GatewayFixture.FINANCE_KEY), u.name() + " got the client key in " + h);
        }
      }
    }
  }

  @Test
  void streamingChatArrivesDeltaByDelta() {
    try (StreamResponse<ChatCompletionChunk> stream = client(GatewayFixture.FINANCE_KEY).chat().completions()
        .createStreaming(chat("gpt-4o"))) {
      String text = stream.stream()
          .flatMap(c -> c.choices().stream())
          .map(c -> c.delta().content().orElse(""))
          .collect(Collectors.joining());
      assertEquals("Hello from aoai!", text);
    }
    assertTrue(gw.azure.last().json().path("stream").asBoolean());
  }

  @Test
  void throttledPtuFailsOverToPayAsYouGoWithItsModelAndKey() {
    gw.azure.enqueue(ScriptedUpstream.tooManyRequests(0));
    HttpResponseFor<ChatCompletion> raw = client(GatewayFixture.FINANCE_KEY).chat().completions()
        .withRawResponse().create(chat("gpt-4o"));
    assertEquals("Hello from openai!", raw.parse().choices().get(0).message().content().orElseThrow());
    assertEquals(List.of("openai"), raw.headers().values("x-weir-backend"));
    ScriptedUpstream.Recorded r = gw.openai.last();
    assertEquals("/v1/chat/completions", r.path());
    assertEquals("Bearer " + GatewayFixture.OPENAI_SECRET, r.header("authorization"));
    assertNull(r.header("api-key"), "the Azure key set by the first attempt must not follow to OpenAI");
    assertEquals("gpt-4o-2024-08-06", r.json().path("model").asText());
  }

  @Test
  void unknownKeyIs401InOpenAiShape() {
    UnauthorizedException e = assertThrows(UnauthorizedException.class,
        () -> client("sk-not-a-weir-key-at-all").chat().completions().create(chat("gpt-4o")));
    assertEquals(401, e.statusCode());
    assertTrue(e.getMessage().contains("Incorrect API key provided"), e.getMessage());
    assertFalse(e.getMessage().contains("sk-not-a-weir-key-at-all"), "the key is redacted");
    assertTrue(gw.azure.received().isEmpty());
  }

  @Test
  void modelTheConsumerMayNotUseIs403() {
    PermissionDeniedException e = assertThrows(PermissionDeniedException.class,
        () -> client(GatewayFixture.FINANCE_KEY).chat().completions().create(chat("llama")));
    assertEquals(403, e.statusCode());
    assertTrue(e.getMessage().contains("may not use model `llama`"), e.getMessage());
  }

  @Test
  void unknownModelIs404ModelNotFound() {
    NotFoundException e = assertThrows(NotFoundException.class,
        () -> client(GatewayFixture.FINANCE_KEY).chat().completions().create(chat("gpt-9")));
    assertEquals(404, e.statusCode());
    assertEquals("model_not_found", e.code().orElseThrow());
  }

  @Test
  void modelListShowsOnlyWhatTheCallerMayUse() {
    List<String> finance = client(GatewayFixture.FINANCE_KEY).models().list().data().stream()
        .map(Model::id).sorted().toList();
    assertEquals(List.of("gpt-4o", "text-embedding-3-small"), finance);
    List<String> research = client(GatewayFixture.RESEARCH_KEY).models().list().data().stream()
        .map(Model::id).sorted().toList();
    assertEquals(List.of("gpt-4o", "llama", "text-embedding-3-small"), research);
  }

  @Test
  void embeddingsAreTranslatedForAzure() {
    CreateEmbeddingResponse r = client(GatewayFixture.FINANCE_KEY).embeddings().create(
        EmbeddingCreateParams.builder().model("text-embedding-3-small").input("hello").build());
    assertEquals(8, r.data().get(0).embedding().size());
    assertEquals("/openai/deployments/gpt-4o-ptu/embeddings?api-version=2024-10-21", gw.azure.last().path());
  }

  @Test
  void openAiCompatibleBackendWithoutKeyGetsNoAuthorizationAndKeepsItsBasePath() {
    ChatCompletion c = client(GatewayFixture.RESEARCH_KEY).chat().completions().create(chat("llama"));
    assertEquals("Hello from local!", c.choices().get(0).message().content().orElseThrow());
    ScriptedUpstream.Recorded r = gw.local.last();
    assertEquals("/prefix/v1/chat/completions", r.path());
    assertNull(r.header("authorization"));
    assertNull(r.header("api-key"));
    assertEquals("llama", r.json().path("model").asText());
  }
}
