package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.errors.OpenAIException;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import dev.weir.config.ApiKeys;
import dev.weir.testkit.ExchangeResponse;
import dev.weir.testkit.ScriptedUpstream;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A backend stream that ends before its closing event ({@code [DONE]}) reaches the client with an
 * error event, so SDKs raise instead of taking the cut answer for a whole one; it is audited as
 * {@code stream_interrupted}. A complete stream gets nothing added.
 */
class StreamInterruptionTest {
  static final String KEY = "sk-weir-stream-test";
  static final String STREAM = "{\"model\":\"gpt-4o\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  static ScriptedUpstream upstream;
  static Gateway gw;

  @BeforeAll
  static void start() throws Exception {
    upstream = new ScriptedUpstream("up");
    gw = new Gateway("""
        backends: [ { name: local, provider: openai-compatible, url: UPSTREAM } ]
        pools: [ { name: p, members: [ { backend: local } ] } ]
        models: [ { name: gpt-4o, pool: p } ]
        consumers: [ { name: c, keys: [ "%s" ], models: [ "*" ] } ]
        """.formatted(ApiKeys.hash(KEY)), upstream);
  }

  @AfterAll
  static void stop() {
    gw.close();
    upstream.close();
  }

  private static ScriptedUpstream.Sse cut() {
    List<String> whole = ScriptedUpstream.chatChunks("gpt-4o", "Once upon a time", false);
    return new ScriptedUpstream.Sse(whole.subList(0, 3), Duration.ZERO);
  }

  @Test
  void aStreamCutBeforeDoneEndsWithAnErrorEventAndIsAudited() throws Exception {
    upstream.enqueue(cut());
    ExchangeResponse r = gw.chat(KEY, STREAM);
    String body = r.bodyText();
    assertTrue(body.contains("\"content\":\"Once \""), body);
    assertTrue(body.endsWith("\"code\":\"stream_interrupted\"}}\n\n"), body);
    assertFalse(body.contains("[DONE]"), body);
    assertTrue(gw.metricsContaining("outcome=\"stream_interrupted\"").contains("outcome=\"stream_interrupted\""));
  }

  @Test
  void theOpenAiSdkRaisesTheInterruption() throws Exception {
    upstream.enqueue(cut());
    var client = OpenAIOkHttpClient.builder().apiKey(KEY).baseUrl(gw.baseUrl()).maxRetries(0).build();
    OpenAIException e = assertThrows(OpenAIException.class, () -> {
      try (StreamResponse<ChatCompletionChunk> s = client.chat().completions().createStreaming(
          ChatCompletionCreateParams.builder().model("gpt-4o").addUserMessage("hi").build())) {
        s.stream().forEach(c -> { });
      }
    });
    assertTrue(e.toString().contains("incomplete") || e.toString().contains("stream_interrupted"), e.toString());
  }

  @Test
  void aCompleteStreamGetsNothingAdded() {
    ExchangeResponse r = gw.chat(KEY, STREAM);
    assertTrue(r.bodyText().endsWith("data: [DONE]\n\n"), r.bodyText());
    assertEquals(200, r.status());
  }
}
