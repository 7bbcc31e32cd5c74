package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.HttpResponseFor;
import com.openai.core.http.StreamResponse;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import dev.weir.config.ApiKeys;
import dev.weir.testkit.ScriptedUpstream;
import java.time.Duration;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The OpenAI Java SDK reads cached answers, streamed and not, through the test-kit and ext_proc. */
class CacheEndToEndTest {
  static final String KEY = "sk-cache-sdk";
  static final String OPS_KEY = "sk-cache-ops";
  ScriptedUpstream upstream;
  Gateway gw;
  OpenAIClient client;

  @BeforeEach
  void start() throws Exception {
    upstream = new ScriptedUpstream("up");
    gw = new Gateway("""
        backends: [ { name: up, provider: openai-compatible, url: UPSTREAM } ]
        pools: [ { name: p, members: [ { backend: up } ] } ]
        models: [ { name: m, pool: p }, { name: m2, pool: p } ]
        policies: { cache: { tiers: [ exact ] } }
        consumers:
          - { name: team, keys: [ "%s" ], models: [ "*" ] }
          - { name: ops, keys: [ "%s" ], models: [ "*" ] }
        security: { adminToken: { env: WEIR_ADMIN_TOKEN } }
        """.formatted(ApiKeys.hash(KEY), ApiKeys.hash(OPS_KEY)), upstream, java.util.Map.of("WEIR_ADMIN_TOKEN", "admin-secret"));
    client = OpenAIOkHttpClient.builder().apiKey(KEY).baseUrl(gw.baseUrl()).maxRetries(0).build();
  }

  @AfterEach
  void stop() {
    gw.close();
    upstream.close();
  }

  static ChatCompletionCreateParams params(String prompt, boolean usage) {
    var b = ChatCompletionCreateParams.builder().model("m").temperature(0.0).addUserMessage(prompt);
    if (usage) {
      b.streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build());
    }
    return b.build();
  }

  record Streamed(String cache, String text, List<ChatCompletionChunk> chunks) {}

  Streamed stream(ChatCompletionCreateParams p) {
    HttpResponseFor<StreamResponse<ChatCompletionChunk>> raw = client.chat().completions().withRawResponse()
        .createStreaming(p);
    try (StreamResponse<ChatCompletionChunk> s = raw.parse()) {
      List<ChatCompletionChunk> chunks = s.stream().toList();
      String text = chunks.stream().flatMap(c -> c.choices().stream())
          .map(ch -> ch.delta().content().orElse("")).collect(Collectors.joining());
      return new Streamed(raw.headers().values("x-weir-cache").stream().findFirst().orElse(null), text, chunks);
    }
  }

  @Test
  void aStreamedMissIsReplayedAsSseTheSdkReadsAndServedAsJsonToAJsonRequest() {
    Streamed miss = stream(params("Say hello", true));
    assertEquals("miss", miss.cache());
    assertEquals("Hello from up!", miss.text());

    Streamed hit = stream(params("Say hello", true));
    assertEquals("hit-exact", hit.cache());
    assertEquals("Hello from up!", hit.text());
    assertEquals("stop", hit.chunks().stream().flatMap(c -> c.choices().stream())
        .filter(ch -> ch.finishReason().isPresent()).findFirst().orElseThrow().finishReason().orElseThrow()
        .asString());
    assertEquals(miss.chunks().getLast().usage().orElseThrow().totalTokens(),
        hit.chunks().getLast().usage().orElseThrow().totalTokens());

    HttpResponseFor<ChatCompletion> json = client.chat().completions().withRawResponse()
        .create(params("Say hello", false));
    assertEquals(List.of("hit-exact"), json.headers().values("x-weir-cache"));
    assertEquals("Hello from up!", json.parse().choices().get(0).message().content().orElseThrow());
    assertEquals(1, upstream.received().size());
  }

  @Test
  void aStreamThatNeverFinishesIsNotStored() {
    List<String> cut = ScriptedUpstream.chatChunks("m", "Hello there", false).subList(0, 2);
    upstream.enqueue(new ScriptedUpstream.Sse(cut, Duration.ZERO));
    // The gateway ends a cut stream with an error event, which the SDK raises.
    org.junit.jupiter.api.Assertions.assertThrows(com.openai.errors.SseException.class,
        () -> stream(params("Say hi", false)));
    assertEquals("miss", stream(params("Say hi", false)).cache());
    assertEquals(2, upstream.received().size());
  }

  private int flush(String token) throws Exception {
    return flush(token, "").statusCode();
  }

  private java.net.http.HttpResponse<String> flush(String token, String query) throws Exception {
    var request = java.net.http.HttpRequest.newBuilder(
        java.net.URI.create("http://127.0.0.1:" + gw.server.adminPort() + "/cache/flush" + query))
        .POST(java.net.http.HttpRequest.BodyPublishers.noBody());
    if (token != null) {
      request.header("authorization", "Bearer " + token);
    }
    return java.net.http.HttpClient.newHttpClient().send(request.build(),
        java.net.http.HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void theAdminFlushDropsEveryEntryAndNeedsTheToken() throws Exception {
    stream(params("Say hello", true));
    assertEquals("hit-exact", stream(params("Say hello", true)).cache());
    assertEquals(401, flush(null), "no token, no flush");
    assertEquals("hit-exact", stream(params("Say hello", true)).cache());
    assertEquals(200, flush("admin-secret"));
    assertEquals("miss", stream(params("Say hello", true)).cache());
  }

  String cacheHeader(OpenAIClient c, String model, String prompt) {
    var raw = c.chat().completions().withRawResponse().create(
        ChatCompletionCreateParams.builder().model(model).temperature(0.0).addUserMessage(prompt).build());
    raw.parse();
    return raw.headers().values("x-weir-cache").stream().findFirst().orElse(null);
  }

  @Test
  void theAdminFlushOfOneConsumerOrOneModelDropsOnlyTheirEntries() throws Exception {
    OpenAIClient ops = OpenAIOkHttpClient.builder().apiKey(OPS_KEY).baseUrl(gw.baseUrl()).maxRetries(0).build();
    for (String[] ask : new String[][] {{"team", "m"}, {"team", "m2"}, {"ops", "m"}}) {
      assertEquals("miss", cacheHeader(ask[0].equals("ops") ? ops : client, ask[1], "Name a colour"));
    }
    assertEquals(401, flush(null, "?consumer=team").statusCode(), "no token, no flush");

    var r = flush("admin-secret", "?consumer=team&model=m");
    assertEquals(200, r.statusCode());
    assertEquals("flushed 1 entries\n", r.body());
    assertEquals("miss", cacheHeader(client, "m", "Name a colour"));
    assertEquals("hit-exact", cacheHeader(client, "m2", "Name a colour"));
    assertEquals("hit-exact", cacheHeader(ops, "m", "Name a colour"));

    assertEquals("flushed 2 entries\n", flush("admin-secret", "?consumer=team").body());
    assertEquals("hit-exact", cacheHeader(ops, "m", "Name a colour"));
    assertEquals("flushed 1 entries\n", flush("admin-secret", "?model=m").body());
    assertEquals("miss", cacheHeader(ops, "m", "Name a colour"));
  }

  @Test
  void aFlushNamingAnUnknownConsumerModelOrParameterIsRefusedAndDropsNothing() throws Exception {
    assertEquals("miss", cacheHeader(client, "m", "Name a shape"));
    var r = flush("admin-secret", "?consumer=nobody");
    assertEquals(400, r.statusCode());
    assertEquals("no consumer named 'nobody' is configured\n", r.body());
    assertEquals(400, flush("admin-secret", "?model=gpt-9").statusCode());
    var bad = flush("admin-secret", "?partition=%3Cscript%3E");
    assertEquals(400, bad.statusCode());
    assertTrue(bad.body().startsWith("unknown parameter 'partition'"), bad.body());
    assertEquals("hit-exact", cacheHeader(client, "m", "Name a shape"));
  }
}
