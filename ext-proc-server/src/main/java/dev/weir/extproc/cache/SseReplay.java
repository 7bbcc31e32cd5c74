package dev.weir.extproc.cache;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weir.extproc.openai.Endpoint;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * A stored answer replayed as the SSE stream OpenAI would have sent: a first chunk with the role,
 * the content, each tool call, a chunk with the finish reason, the usage chunk when the client asked
 * for it ({@code stream_options.include_usage}), and {@code [DONE]}.
 */
final class SseReplay {
  private SseReplay() {}

  static byte[] of(Endpoint endpoint, JsonNode answer, boolean includeUsage) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    JsonNode choice = answer.path("choices").path(0);
    String finish = choice.path("finish_reason").asText("stop");
    if (endpoint == Endpoint.COMPLETIONS) {
      ObjectNode text = chunk(answer, "text_completion");
      text.putArray("choices").addObject().put("text", choice.path("text").asText("")).put("index", 0)
          .putNull("logprobs").putNull("finish_reason");
      write(out, text);
      ObjectNode last = chunk(answer, "text_completion");
      last.putArray("choices").addObject().put("text", "").put("index", 0).putNull("logprobs")
          .put("finish_reason", finish);
      write(out, last);
    } else {
      JsonNode message = choice.path("message");
      ObjectNode first = chunk(answer, "chat.completion.chunk");
      ObjectNode delta = firstChoice(first);
      delta.put("role", message.path("role").asText("assistant")).put("content", "");
      write(out, first);
      if (message.hasNonNull("content") && !message.get("content").asText().isEmpty()) {
        ObjectNode c = chunk(answer, "chat.completion.chunk");
        firstChoice(c).put("content", message.get("content").asText());
        write(out, c);
      }
      if (message.hasNonNull("refusal")) {
        ObjectNode c = chunk(answer, "chat.completion.chunk");
        firstChoice(c).put("refusal", message.get("refusal").asText());
        write(out, c);
      }
      int i = 0;
      for (JsonNode call : message.path("tool_calls")) {
        ObjectNode c = chunk(answer, "chat.completion.chunk");
        ObjectNode t = firstChoice(c).putArray("tool_calls").addObject();
        t.put("index", i++).set("id", call.path("id"));
        t.put("type", call.path("type").asText("function"));
        t.set("function", call.path("function"));
        write(out, c);
      }
      ObjectNode last = chunk(answer, "chat.completion.chunk");
      last.putArray("choices").addObject().put("index", 0).<ObjectNode>set("delta", last.objectNode())
          .putNull("logprobs").put("finish_reason", finish);
      write(out, last);
    }
    if (includeUsage && answer.hasNonNull("usage")) {
      ObjectNode u = chunk(answer, endpoint == Endpoint.COMPLETIONS ? "text_completion" : "chat.completion.chunk");
      u.putArray("choices");
      u.set("usage", answer.get("usage"));
      write(out, u);
    }
    out.writeBytes("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
    return out.toByteArray();
  }

  private static ObjectNode chunk(JsonNode answer, String object) {
    ObjectNode c = com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode();
    c.set("id", answer.path("id"));
    c.put("object", object);
    c.set("created", answer.path("created"));
    c.set("model", answer.path("model"));
    if (answer.has("system_fingerprint")) {
      c.set("system_fingerprint", answer.get("system_fingerprint"));
    }
    return c;
  }

  /** Adds the one choice of a chat chunk and returns its delta. */
  private static ObjectNode firstChoice(ObjectNode chunk) {
    ObjectNode choice = chunk.putArray("choices").addObject().put("index", 0);
    ObjectNode delta = choice.putObject("delta");
    choice.putNull("logprobs").putNull("finish_reason");
    return delta;
  }

  private static void write(ByteArrayOutputStream out, JsonNode event) {
    out.writeBytes(("data: " + event + "\n\n").getBytes(StandardCharsets.UTF_8));
  }
}
