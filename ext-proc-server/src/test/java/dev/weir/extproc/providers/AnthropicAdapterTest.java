package dev.weir.extproc.providers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weir.config.v1.PoolMember;
import dev.weir.config.v1.Provider;
import dev.weir.extproc.openai.Endpoint;
import dev.weir.extproc.openai.Json;
import dev.weir.extproc.routing.BackendTarget;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class AnthropicAdapterTest {
  static final BackendTarget CLAUDE = new BackendTarget("claude", Provider.ANTHROPIC,
      URI.create("https://api.anthropic.com"), "", "sk-ant", 0);
  final AnthropicAdapter adapter = new AnthropicAdapter();

  private JsonNode translate(String openai) throws Exception {
    Attempt attempt = new Attempt(Endpoint.CHAT_COMPLETIONS, null, CLAUDE,
        PoolMember.newBuilder().setModel("claude-sonnet-4-5").build(), "claude");
    return Json.MAPPER.readTree(adapter.rewriteBody(attempt, (ObjectNode) Json.MAPPER.readTree(openai)));
  }

  @Test
  void plansMessagesPathKeyAndVersionAndRemovesClientCredentials() {
    AttemptPlan plan = adapter.plan(new Attempt(Endpoint.CHAT_COMPLETIONS, null, CLAUDE,
        PoolMember.getDefaultInstance(), "claude"));
    assertEquals("/v1/messages", plan.path());
    assertEquals("sk-ant", plan.setHeaders().get("x-api-key"));
    assertEquals(AnthropicAdapter.DEFAULT_VERSION, plan.setHeaders().get("anthropic-version"));
    assertEquals(ProviderAdapters.STRIPPED_CLIENT_HEADERS.stream().filter(h -> !List.of("x-api-key").contains(h)).toList(), plan.removeHeaders(),
        "client credentials, and the AWS token a previous Bedrock attempt of the same request left");
    assertTrue(plan.rewritesBody());
    assertFalse(adapter.serves(Endpoint.EMBEDDINGS));
  }

  @Test
  void systemAndDeveloperMessagesBecomeTheSystemPromptAndTurnsMerge() throws Exception {
    JsonNode out = translate("""
        {"model":"claude","max_tokens":50,"messages":[
          {"role":"system","content":"Be brief."},{"role":"developer","content":[{"type":"text","text":"No lists."}]},
          {"role":"user","content":"a"},{"role":"user","content":"b"}],"n":1,"stream_options":{"include_usage":true}}""");
    assertEquals("Be brief.\n\nNo lists.", out.path("system").asText());
    assertEquals(1, out.path("messages").size(), "consecutive user turns merge");
    assertEquals(2, out.path("messages").get(0).path("content").size());
    assertEquals(50, out.path("max_tokens").asInt());
    assertFalse(out.has("n") || out.has("stream_options"), out.toString());
  }

  @Test
  void imagesBecomeBase64OrUrlSources() throws Exception {
    JsonNode out = translate("""
        {"model":"claude","messages":[{"role":"user","content":[
          {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}},
          {"type":"image_url","image_url":{"url":"https://example.com/cat.jpg"}}]}]}""");
    JsonNode blocks = out.path("messages").get(0).path("content");
    assertEquals("base64", blocks.get(0).path("source").path("type").asText());
    assertEquals("image/png", blocks.get(0).path("source").path("media_type").asText());
    assertEquals("iVBORw0KGgo=", blocks.get(0).path("source").path("data").asText());
    assertEquals("https://example.com/cat.jpg", blocks.get(1).path("source").path("url").asText());
  }

  @Test
  void toolChoiceMapsToAnthropicsNames() throws Exception {
    String tools = ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\"}}}]";
    String base = "{\"model\":\"claude\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]" + tools;
    assertEquals("auto", translate(base + "}").path("tool_choice").path("type").asText());
    assertEquals("any", translate(base + ",\"tool_choice\":\"required\"}").path("tool_choice").path("type").asText());
    JsonNode named = translate(base + ",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"f\"}},"
        + "\"parallel_tool_calls\":false}").path("tool_choice");
    assertEquals("tool", named.path("type").asText());
    assertEquals("f", named.path("name").asText());
    assertTrue(named.path("disable_parallel_tool_use").asBoolean());
    assertFalse(translate(base + ",\"tool_choice\":\"none\"}").has("tools"), "none without tool history sends no tools");
  }

  @Test
  void aMessageBecomesAChatCompletionWithCacheReadsInThePrompt() {
    ResponseTranslator t = adapter.translator(parsed(), CLAUDE);
    String out = new String(t.translateBody(200, """
        {"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5",
         "content":[{"type":"text","text":"Hi"},{"type":"tool_use","id":"tu_1","name":"f","input":{"a":1}}],
         "stop_reason":"tool_use","usage":{"input_tokens":10,"cache_read_input_tokens":90,"output_tokens":4}}"""
        .getBytes(StandardCharsets.UTF_8)), StandardCharsets.UTF_8);
    assertTrue(out.contains("\"finish_reason\":\"tool_calls\""), out);
    assertTrue(out.contains("\"arguments\":\"{\\\"a\\\":1}\""), out);
    assertTrue(out.contains("\"prompt_tokens\":100") && out.contains("\"cached_tokens\":90"), out);
  }

  @Test
  void anAnthropicErrorBecomesAnOpenAiError() {
    ResponseTranslator t = adapter.translator(parsed(), CLAUDE);
    String out = new String(t.translateBody(529,
        "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}".getBytes(
            StandardCharsets.UTF_8)), StandardCharsets.UTF_8);
    assertEquals("{\"error\":{\"message\":\"Overloaded\",\"type\":\"server_error\",\"param\":null,"
        + "\"code\":\"overloaded_error\"}}", out);
    String html = new String(t.translateBody(502, "<html>bad gateway</html>".getBytes(StandardCharsets.UTF_8)),
        StandardCharsets.UTF_8);
    assertTrue(html.contains("\"code\":\"502\""), html);
  }

  @Test
  void aStreamCutBeforeMessageStopEndsWithAnError() {
    ResponseTranslator t = adapter.translator(parsed(), CLAUDE);
    List<String> events = t.translateStream(("event: message_start\ndata: {\"type\":\"message_start\",\"message\":"
        + "{\"id\":\"m\",\"model\":\"c\",\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n").getBytes(
        StandardCharsets.UTF_8), true);
    assertEquals(2, events.size());
    assertTrue(events.get(1).contains("stream_interrupted"), events.toString());
  }

  private static dev.weir.extproc.openai.ParsedRequest parsed() {
    return ((dev.weir.extproc.openai.ParsedRequest.Ok) dev.weir.extproc.openai.ParsedRequest.parse(
        Endpoint.CHAT_COMPLETIONS, "{\"model\":\"claude\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}"
            .getBytes(StandardCharsets.UTF_8))).request();
  }
}
