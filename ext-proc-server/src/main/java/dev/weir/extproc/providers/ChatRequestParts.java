package dev.weir.extproc.providers;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weir.extproc.openai.Json;
import java.io.IOException;

/** Pieces of an OpenAI chat completion request that every translation to another API reads alike. */
final class ChatRequestParts {
  private ChatRequestParts() {}

  /** The text of a message's content: the string, or its text parts joined. */
  static String text(JsonNode content) {
    if (content == null || content.isNull()) {
      return "";
    }
    if (content.isTextual()) {
      return content.asText();
    }
    StringBuilder sb = new StringBuilder();
    for (JsonNode part : content) {
      if (part.path("type").asText().equals("text")) {
        sb.append(part.path("text").asText());
      }
    }
    return sb.toString();
  }

  /** Tool-call arguments are a JSON string in OpenAI and an object in Anthropic and Converse. */
  static JsonNode arguments(String json) {
    try {
      JsonNode node = Json.MAPPER.readTree(json.isBlank() ? "{}" : json);
      return node != null && node.isObject() ? node : Json.MAPPER.createObjectNode();
    } catch (IOException e) {
      return Json.MAPPER.createObjectNode();
    }
  }

  /** Copies a numeric field under another name, when the request sets it. */
  static void copyNumber(ObjectNode from, ObjectNode to, String name, String as) {
    JsonNode v = from.get(name);
    if (v != null && v.isNumber()) {
      to.set(as, v.deepCopy());
    }
  }

  /** Whether earlier turns called tools (then the tools must be sent even with tool_choice none). */
  static boolean hasToolHistory(ObjectNode openai) {
    for (JsonNode m : openai.path("messages")) {
      if (m.has("tool_calls") || "tool".equals(m.path("role").asText())) {
        return true;
      }
    }
    return false;
  }
}
