package dev.weir.extproc.dialects;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weir.extproc.openai.Endpoint;
import dev.weir.extproc.openai.Json;
import dev.weir.extproc.openai.ParsedRequest;
import dev.weir.extproc.openai.Usage;
import dev.weir.extproc.tokens.TokenCounter;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ResponsesDialectTest {
  static final Dialect DIALECT = Dialects.of(Endpoint.RESPONSES);
  static final TokenCounter TOKENS = new TokenCounter(Map.of(), 765);

  static ObjectNode json(String text) throws Exception {
    return (ObjectNode) Json.MAPPER.readTree(text);
  }

  static ParsedRequest request(String body) {
    return ((ParsedRequest.Ok) ParsedRequest.parse(Endpoint.RESPONSES, body.getBytes(StandardCharsets.UTF_8))).request();
  }

  @Test
  void inputIsAStringOrAnItemListAndMayBeAbsent() throws Exception {
    assertEquals("invalid_input", DIALECT.validate(json("{\"model\":\"m\",\"input\":42}")).code());
    assertEquals("invalid_max_output_tokens",
        DIALECT.validate(json("{\"model\":\"m\",\"input\":\"hi\",\"max_output_tokens\":-1}")).code());
    assertNull(DIALECT.validate(json("{\"model\":\"m\",\"previous_response_id\":\"resp_1\"}")));
    assertNull(DIALECT.validate(json("{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":\"hi\"}]}")));
  }

  @Test
  void promptEstimateCountsInstructionsAndStringInput() {
    ParsedRequest r = request("{\"model\":\"gpt-4o\",\"instructions\":\"Be brief.\",\"input\":\"Say hello\"}");
    assertEquals(ResponsesDialect.REPLY_PRIMING + ResponsesDialect.TOKENS_PER_ITEM
        + TOKENS.countAll("gpt-4o", List.of("Be brief.", "Say hello")), DIALECT.promptTokens(TOKENS, r));
  }

  @Test
  void promptEstimateCountsEveryKindOfInputItem() {
    ParsedRequest r = request("""
        {"model":"gpt-4o","input":[
          {"role":"user","content":"Weather in Paris?"},
          {"type":"message","role":"user","content":[{"type":"input_text","text":"And a picture:"},
            {"type":"input_image","detail":"low","image_url":"https://x/y.png"}]},
          {"type":"function_call","call_id":"c1","name":"get_weather","arguments":"{\\"city\\":\\"Paris\\"}"},
          {"type":"function_call_output","call_id":"c1","output":"18 C"}],
         "tools":[{"type":"function","name":"get_weather","parameters":{"type":"object"}}]}""");
    long expected = ResponsesDialect.REPLY_PRIMING + 4L * ResponsesDialect.TOKENS_PER_ITEM + 85
        + TOKENS.countAll("gpt-4o", List.of("", "user", "Weather in Paris?", "user", "And a picture:", "get_weather",
            "{\"city\":\"Paris\"}", "18 C", r.body().get("tools").toString()));
    assertEquals(expected, DIALECT.promptTokens(TOKENS, r));
  }

  @Test
  void reservesMaxOutputTokens() throws Exception {
    assertEquals(300, DIALECT.maxOutputTokens(json("{\"max_output_tokens\":300}")));
    assertEquals(0, DIALECT.maxOutputTokens(json("{}")), "unset: the configured default applies");
  }

  @Test
  void usageCarriesCachedAndReasoningDetails() throws Exception {
    Usage usage = DIALECT.usage(json("""
        {"object":"response","usage":{"input_tokens":21,"input_tokens_details":{"cached_tokens":4},
         "output_tokens":9,"output_tokens_details":{"reasoning_tokens":2},"total_tokens":30}}"""));
    assertEquals(new Usage(21, 9, 30, 2, 4), usage);
  }

  @Test
  void streamedUsageComesFromTheClosingResponseEvent() throws Exception {
    Dialect.StreamReader reader = DIALECT.streamReader(null);
    StringBuilder text = new StringBuilder();
    assertSame(Dialect.Read.NOTHING, reader.read(json(
        "{\"type\":\"response.created\",\"response\":{\"status\":\"in_progress\",\"usage\":null}}"), text));
    reader.read(json("{\"type\":\"response.output_text.delta\",\"delta\":\"Hello \"}"), text);
    reader.read(json("{\"type\":\"response.function_call_arguments.delta\",\"delta\":\"{}\"}"), text);
    reader.read(json("{\"type\":\"response.output_text.done\",\"text\":\"Hello \"}"), text);
    assertEquals("Hello {}", text.toString(), "each delta once; the done events repeat them");
    for (String closing : List.of("response.completed", "response.incomplete", "response.failed")) {
      Dialect.Read read = reader.read(json("{\"type\":\"" + closing + "\",\"response\":{\"usage\":"
          + "{\"input_tokens\":5,\"output_tokens\":3,\"total_tokens\":8}}}"), text);
      assertEquals(new Usage(5, 3, 8, -1, -1), read.usage(), closing);
    }
  }
}
