package dev.weir.extproc.dialects;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weir.extproc.openai.ApiError;
import dev.weir.extproc.openai.Endpoint;
import dev.weir.extproc.openai.Json;
import dev.weir.extproc.openai.ParsedRequest;
import dev.weir.extproc.openai.Usage;
import dev.weir.extproc.tokens.TokenCounter;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class AnthropicMessagesDialectTest {
  static final Dialect DIALECT = Dialects.of(Endpoint.MESSAGES);
  static final TokenCounter TOKENS = new TokenCounter(Map.of(), 765);
  static final String MODEL = "claude-sonnet-4-5";

  static ObjectNode json(String text) throws Exception {
    return (ObjectNode) Json.MAPPER.readTree(text);
  }

  static ParsedRequest request(String body) {
    return ((ParsedRequest.Ok) ParsedRequest.parse(Endpoint.MESSAGES, body.getBytes(StandardCharsets.UTF_8))).request();
  }

  @Test
  void requiresMaxTokensAndUserOrAssistantMessagesAsAnthropicDoes() throws Exception {
    assertEquals("max_tokens: Field required",
        DIALECT.validate(json("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}")).message());
    assertEquals("invalid_max_tokens",
        DIALECT.validate(json("{\"max_tokens\":0,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}")).code());
    assertEquals("invalid_messages",
        DIALECT.validate(json("{\"max_tokens\":5,\"messages\":[{\"role\":\"system\",\"content\":\"hi\"}]}")).code());
    assertEquals("missing_messages", DIALECT.validate(json("{\"max_tokens\":5}")).code());
    assertNull(DIALECT.validate(json("{\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}")));
  }

  @Test
  void promptEstimateCountsSystemMessagesAndToolsWithChatFraming() {
    ParsedRequest plain = request("""
        {"model":"claude-sonnet-4-5","max_tokens":10,"system":"You are terse.",
         "messages":[{"role":"user","content":"Hello there"}]}""");
    long expected = AnthropicMessagesDialect.REPLY_PRIMING + AnthropicMessagesDialect.TOKENS_PER_MESSAGE
        + TOKENS.countAll(MODEL, List.of("You are terse.", "user", "Hello there"));
    assertEquals(expected, DIALECT.promptTokens(TOKENS, plain));
    assertEquals(expected, TOKENS.promptTokens(plain), "the token counter defers to the dialect");

    ParsedRequest blocks = request("""
        {"model":"claude-sonnet-4-5","max_tokens":10,
         "system":[{"type":"text","text":"You are terse."}],
         "messages":[{"role":"user","content":[{"type":"text","text":"Hello there"},
           {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}]}]}""");
    assertEquals(expected + 765, DIALECT.promptTokens(TOKENS, blocks), "an image costs the configured estimate");

    ParsedRequest tools = request("""
        {"model":"claude-sonnet-4-5","max_tokens":10,"messages":[
          {"role":"user","content":"Weather?"},
          {"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"get_weather","input":{"city":"Paris"}}]},
          {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"18 C"}]}],
         "tools":[{"name":"get_weather","input_schema":{"type":"object"}}]}""");
    long withTools = AnthropicMessagesDialect.REPLY_PRIMING + 3L * AnthropicMessagesDialect.TOKENS_PER_MESSAGE
        + TOKENS.countAll(MODEL, List.of("user", "Weather?", "assistant", "get_weather", "{\"city\":\"Paris\"}",
            "user", "18 C", tools.body().get("tools").toString()));
    assertEquals(withTools, DIALECT.promptTokens(TOKENS, tools));
  }

  @Test
  void reservesMaxTokens() throws Exception {
    assertEquals(512, DIALECT.maxOutputTokens(json("{\"max_tokens\":512}")));
    assertEquals(1, DIALECT.choices(json("{\"max_tokens\":512,\"n\":4}")), "Messages has no n");
  }

  @Test
  void usageCountsCacheReadsAndWritesAsPromptTokens() throws Exception {
    Usage usage = DIALECT.usage(json("""
        {"type":"message","content":[],"usage":{"input_tokens":10,"cache_read_input_tokens":30,
         "cache_creation_input_tokens":5,"output_tokens":7}}"""));
    assertEquals(new Usage(45, 7, 52, -1, 30), usage);
    assertNull(DIALECT.usage(json("{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"}}")));
  }

  @Test
  void streamedUsageIsFinalAtMessageDeltaWithMessageStartsInputTokens() throws Exception {
    Dialect.StreamReader reader = DIALECT.streamReader(null);
    StringBuilder text = new StringBuilder();
    assertSame(Dialect.Read.NOTHING, reader.read(json("""
        {"type":"message_start","message":{"id":"m","type":"message","role":"assistant","content":[],
         "usage":{"input_tokens":12,"cache_read_input_tokens":3,"output_tokens":1}}}"""), text));
    assertEquals(15, reader.reportedInputTokens(), "known before the answer completes, for a cut stream");
    reader.read(json("{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi \"}}"), text);
    reader.read(json("""
        {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":"get_weather","input":{}}}"""),
        text);
    reader.read(json("{\"type\":\"content_block_delta\",\"index\":1,"
        + "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"c\\\":1}\"}}"), text);
    Dialect.Read last = reader.read(json(
        "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":9}}"), text);
    assertEquals(new Usage(15, 9, 24, -1, 3), last.usage());
    assertEquals(false, last.gatewayOnly(), "Anthropic's usage events are part of the client's stream");
    assertEquals("Hi get_weather{\"c\":1}", text.toString());
  }

  @Test
  void gatewayErrorsTakeAnthropicsShapeWithItsTypeForTheStatus() throws Exception {
    JsonNode limited = Json.MAPPER.readTree(DIALECT.clientError(429,
        new ApiError(429, "rate_limit_exceeded", "tokens_per_minute_exceeded", "Slow down.").toJson()));
    assertEquals("error", limited.path("type").asText());
    assertEquals("rate_limit_error", limited.path("error").path("type").asText());
    assertEquals("Slow down.", limited.path("error").path("message").asText());
    Map<Integer, String> types = Map.of(400, "invalid_request_error", 401, "authentication_error",
        403, "permission_error", 404, "not_found_error", 413, "request_too_large", 500, "api_error",
        529, "overloaded_error");
    types.forEach((status, type) -> assertEquals(type, AnthropicMessagesDialect.errorType(status)));
    JsonNode notJson = Json.MAPPER.readTree(DIALECT.clientError(502, "upstream reset".getBytes(StandardCharsets.UTF_8)));
    assertEquals("api_error", notJson.path("error").path("type").asText());
    assertTrue(notJson.path("error").path("message").asText().contains("502"));
  }

  @Test
  void localRepliesOfTheUpstreamPassAreReshapedToo() throws Exception {
    byte[] reshaped = DIALECT.localReplyTranslator().translateBody(400,
        ApiError.badRequest("unsupported_endpoint", "backend cannot answer /v1/messages").toJson());
    assertEquals("invalid_request_error", Json.MAPPER.readTree(reshaped).path("error").path("type").asText());
    assertNull(Dialects.of(Endpoint.CHAT_COMPLETIONS).localReplyTranslator(), "OpenAI clients read the OpenAI shape");
  }
}
