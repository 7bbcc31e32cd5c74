package dev.weir.extproc.cache;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weir.extproc.openai.Endpoint;
import java.util.TreeMap;

/**
 * Collects an answer as the client receives it (a whole JSON body, or the events of a stream) and
 * tells whether it is complete enough to store: one choice that ended with a finish reason and,
 * for a stream, the closing {@code [DONE]}. A stream is stored in the non-streamed shape.
 */
final class AnswerAssembler {
  private static final JsonNodeFactory F = JsonNodeFactory.instance;
  private final Endpoint endpoint;
  private JsonNode whole;
  private ObjectNode head;
  private final StringBuilder content = new StringBuilder();
  private final StringBuilder refusal = new StringBuilder();
  private final TreeMap<Integer, ObjectNode> toolCalls = new TreeMap<>();
  private String role = "assistant";
  private String finishReason;
  private JsonNode usage;
  private boolean done;
  private boolean unusable;

  AnswerAssembler(Endpoint endpoint) {
    this.endpoint = endpoint;
  }

  /** The whole body of a buffered answer. */
  void body(JsonNode json) {
    if (json == null || !json.isObject()) {
      unusable = true;
      return;
    }
    whole = json;
  }

  /** One event of a stream (null json: not JSON, so the stream is not stored). */
  void event(JsonNode json, boolean isDone) {
    if (isDone) {
      done = true;
      return;
    }
    if (json == null || !json.isObject()) {
      unusable = true;
      return;
    }
    if (json.hasNonNull("usage")) {
      usage = json.get("usage");
    }
    JsonNode choices = json.path("choices");
    if (head == null) {
      head = json.deepCopy();
      head.remove("choices");
      head.remove("usage");
    }
    if (choices.size() > 1 || choices.path(0).path("index").asInt(0) != 0) {
      unusable = true;
      return;
    }
    JsonNode c = choices.path(0);
    if (c.isMissingNode()) {
      return;
    }
    if (c.hasNonNull("logprobs")) {
      unusable = true; // streamed logprobs are not reassembled
      return;
    }
    if (c.hasNonNull("finish_reason")) {
      finishReason = c.get("finish_reason").asText();
    }
    if (endpoint == Endpoint.COMPLETIONS) {
      content.append(c.path("text").asText(""));
      return;
    }
    JsonNode delta = c.path("delta");
    if (delta.hasNonNull("role")) {
      role = delta.get("role").asText();
    }
    content.append(delta.path("content").asText(""));
    refusal.append(delta.path("refusal").asText(""));
    for (JsonNode call : delta.path("tool_calls")) {
      ObjectNode acc = toolCalls.computeIfAbsent(call.path("index").asInt(), i -> {
        ObjectNode o = F.objectNode();
        o.put("id", "").put("type", "function");
        o.putObject("function").put("name", "").put("arguments", "");
        return o;
      });
      if (call.hasNonNull("id")) {
        acc.put("id", call.get("id").asText());
      }
      if (call.hasNonNull("type")) {
        acc.put("type", call.get("type").asText());
      }
      ObjectNode fn = (ObjectNode) acc.get("function");
      JsonNode f = call.path("function");
      if (f.hasNonNull("name")) {
        fn.put("name", fn.get("name").asText() + f.get("name").asText());
      }
      if (f.hasNonNull("arguments")) {
        fn.put("arguments", fn.get("arguments").asText() + f.get("arguments").asText());
      }
    }
  }

  /** Usage the gateway learnt elsewhere (a usage event hidden from the client before this stage). */
  void usageIfMissing(JsonNode u) {
    if (usage == null && u != null) {
      usage = u;
    }
  }

  /** The answer to store, in the non-streamed shape, or null when it must not be stored. */
  JsonNode complete(boolean streamed) {
    if (unusable) {
      return null;
    }
    if (!streamed) {
      return whole != null && wholeIsComplete() ? whole : null;
    }
    if (!done || finishReason == null || head == null) {
      return null;
    }
    ObjectNode out = head.deepCopy();
    ArrayNode choices = out.putArray("choices");
    ObjectNode choice = choices.addObject();
    if (endpoint == Endpoint.COMPLETIONS) {
      out.put("object", "text_completion");
      choice.put("text", content.toString()).put("index", 0).putNull("logprobs");
    } else {
      out.put("object", "chat.completion");
      choice.put("index", 0);
      ObjectNode message = choice.putObject("message");
      message.put("role", role);
      if (content.isEmpty() && !toolCalls.isEmpty()) {
        message.putNull("content");
      } else {
        message.put("content", content.toString());
      }
      if (!refusal.isEmpty()) {
        message.put("refusal", refusal.toString());
      }
      if (!toolCalls.isEmpty()) {
        ArrayNode calls = message.putArray("tool_calls");
        toolCalls.values().forEach(calls::add);
      }
      choice.putNull("logprobs");
    }
    choice.put("finish_reason", finishReason);
    if (usage != null) {
      out.set("usage", usage);
    }
    return out;
  }

  private boolean wholeIsComplete() {
    if (endpoint == Endpoint.EMBEDDINGS) {
      return whole.path("data").isArray() && !whole.path("data").isEmpty();
    }
    JsonNode choices = whole.path("choices");
    return choices.size() == 1 && choices.get(0).hasNonNull("finish_reason");
  }
}
