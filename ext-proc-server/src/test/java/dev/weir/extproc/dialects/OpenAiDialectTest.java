package dev.weir.extproc.dialects;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weir.extproc.openai.Endpoint;
import dev.weir.extproc.openai.Json;
import dev.weir.extproc.openai.ParsedRequest;
import dev.weir.extproc.openai.Usage;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class OpenAiDialectTest {
  static final Dialect CHAT = Dialects.of(Endpoint.CHAT_COMPLETIONS);
  static final Dialect EMBEDDINGS = Dialects.of(Endpoint.EMBEDDINGS);

  static ObjectNode json(String text) throws Exception {
    return (ObjectNode) Json.MAPPER.readTree(text);
  }

  @Test
  void eachOperationRequiresItsInput() throws Exception {
    assertEquals("missing_messages", CHAT.validate(json("{}")).code());
    assertEquals("missing_prompt", Dialects.of(Endpoint.COMPLETIONS).validate(json("{}")).code());
    assertEquals("empty_input", EMBEDDINGS.validate(json("{\"input\":[]}")).code());
    assertNull(CHAT.validate(json("{\"messages\":[{\"role\":\"developer\",\"content\":\"x\"}]}")),
        "any role: OpenAI's roles keep growing");
  }

  @Test
  void reservationPrefersMaxCompletionTokensPerChoiceAndEmbeddingsProduceNone() throws Exception {
    ObjectNode body = json("{\"max_completion_tokens\":200,\"max_tokens\":50,\"n\":3}");
    assertEquals(200, CHAT.maxOutputTokens(body));
    assertEquals(3, CHAT.choices(body));
    assertEquals(OpenAiDialect.MAX_CHOICES, CHAT.choices(json("{\"n\":100000}")));
    assertEquals(-1, EMBEDDINGS.maxOutputTokens(json("{\"max_tokens\":5}")));
  }

  @Test
  void onlyCompletionsAskStreamingBackendsForUsage() {
    assertTrue(CHAT.asksForStreamUsage());
    assertTrue(Dialects.of(Endpoint.COMPLETIONS).asksForStreamUsage());
    assertFalse(Dialects.of(Endpoint.RESPONSES).asksForStreamUsage());
    assertFalse(Dialects.of(Endpoint.MESSAGES).asksForStreamUsage());
  }

  @Test
  void usageChunkIsGatewayOnlyUnlessTheClientAskedForIt() throws Exception {
    String usageChunk = "{\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2,\"total_tokens\":6}}";
    ParsedRequest quiet = parse("{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
    StringBuilder text = new StringBuilder();
    Dialect.StreamReader reader = CHAT.streamReader(quiet);
    assertSame(Dialect.Read.NOTHING, reader.read(json(
        "{\"choices\":[{\"delta\":{\"content\":\"Hi\",\"tool_calls\":[{\"function\":{\"arguments\":\"{}\"}}]}}]}"), text));
    Dialect.Read read = reader.read(json(usageChunk), text);
    assertEquals(new Usage(4, 2, 6, -1, -1), read.usage());
    assertTrue(read.gatewayOnly());
    assertEquals("Hi{}", text.toString());

    ParsedRequest asked = parse("{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
        + "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
    assertFalse(CHAT.streamReader(asked).read(json(usageChunk), new StringBuilder()).gatewayOnly());
  }

  private static ParsedRequest parse(String body) {
    return ((ParsedRequest.Ok) ParsedRequest.parse(Endpoint.CHAT_COMPLETIONS, body.getBytes(StandardCharsets.UTF_8)))
        .request();
  }
}
