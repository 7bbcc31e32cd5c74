package dev.weir.extproc.providers;

import static dev.weir.extproc.providers.ChatRequestParts.arguments;
import static dev.weir.extproc.providers.ChatRequestParts.copyNumber;
import static dev.weir.extproc.providers.ChatRequestParts.hasToolHistory;
import static dev.weir.extproc.providers.ChatRequestParts.text;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weir.extproc.openai.Json;

/**
 * OpenAI chat completion requests as Anthropic Messages requests: system and developer messages
 * become {@code system}; user, assistant and tool turns become alternating {@code messages} with
 * text, image, {@code tool_use} and {@code tool_result} blocks; tools, tool choice, stop sequences,
 * sampling and {@code max_tokens} map to their Anthropic names. OpenAI fields Anthropic has no
 * equivalent for ({@code n}, {@code logprobs}, {@code response_format}, penalties, {@code seed})
 * are not sent.
 */
final class AnthropicRequests {
  private AnthropicRequests() {}

  static ObjectNode fromChatCompletion(ObjectNode openai, String model, int defaultMaxTokens) {
    ObjectNode out = Json.MAPPER.createObjectNode();
    out.put("model", model);
    long maxTokens = openai.path("max_completion_tokens").asLong(openai.path("max_tokens").asLong(0));
    out.put("max_tokens", maxTokens > 0 ? maxTokens : defaultMaxTokens);
    StringBuilder system = new StringBuilder();
    ArrayNode messages = out.putArray("messages");
    for (JsonNode m : openai.path("messages")) {
      String role = m.path("role").asText();
      switch (role) {
        case "system", "developer" -> {
          if (!system.isEmpty()) {
            system.append("\n\n");
          }
          system.append(text(m.get("content")));
        }
        case "assistant" -> {
          ArrayNode blocks = Json.MAPPER.createArrayNode();
          appendContent(blocks, m.get("content"));
          for (JsonNode call : m.path("tool_calls")) {
            ObjectNode use = blocks.addObject();
            use.put("type", "tool_use");
            use.put("id", call.path("id").asText());
            use.put("name", call.path("function").path("name").asText());
            use.set("input", arguments(call.path("function").path("arguments").asText("{}")));
          }
          append(messages, "assistant", blocks);
        }
        case "tool", "function" -> {
          ArrayNode blocks = Json.MAPPER.createArrayNode();
          ObjectNode result = blocks.addObject();
          result.put("type", "tool_result");
          result.put("tool_use_id", m.path("tool_call_id").asText(m.path("name").asText()));
          result.put("content", text(m.get("content")));
          append(messages, "user", blocks);
        }
        default -> {
          ArrayNode blocks = Json.MAPPER.createArrayNode();
          appendContent(blocks, m.get("content"));
          append(messages, "user", blocks);
        }
      }
    }
    if (!system.isEmpty()) {
      out.put("system", system.toString());
    }
    copyNumber(openai, out, "temperature", "temperature");
    copyNumber(openai, out, "top_p", "top_p");
    JsonNode stop = openai.get("stop");
    if (stop != null && stop.isTextual()) {
      out.putArray("stop_sequences").add(stop.asText());
    } else if (stop != null && stop.isArray() && !stop.isEmpty()) {
      out.set("stop_sequences", stop.deepCopy());
    }
    if (openai.path("stream").asBoolean(false)) {
      out.put("stream", true);
    }
    if (openai.path("user").isTextual()) {
      out.putObject("metadata").put("user_id", openai.path("user").asText());
    }
    tools(openai, out);
    return out;
  }

  private static void tools(ObjectNode openai, ObjectNode out) {
    JsonNode tools = openai.path("tools");
    String choice = openai.path("tool_choice").isTextual() ? openai.path("tool_choice").asText() : null;
    if (!tools.isArray() || tools.isEmpty() || "none".equals(choice) && !hasToolHistory(openai)) {
      return;
    }
    ArrayNode list = out.putArray("tools");
    for (JsonNode t : tools) {
      JsonNode f = t.path("function");
      ObjectNode tool = list.addObject();
      tool.put("name", f.path("name").asText());
      if (f.hasNonNull("description")) {
        tool.put("description", f.path("description").asText());
      }
      tool.set("input_schema", f.has("parameters") ? f.get("parameters").deepCopy()
          : Json.MAPPER.createObjectNode().put("type", "object"));
    }
    ObjectNode toolChoice = Json.MAPPER.createObjectNode();
    JsonNode tc = openai.get("tool_choice");
    if (tc != null && tc.isObject()) {
      toolChoice.put("type", "tool");
      toolChoice.put("name", tc.path("function").path("name").asText());
    } else if ("required".equals(choice)) {
      toolChoice.put("type", "any");
    } else if ("none".equals(choice)) {
      toolChoice.put("type", "none");
    } else {
      toolChoice.put("type", "auto");
    }
    if (openai.path("parallel_tool_calls").isBoolean() && !openai.path("parallel_tool_calls").asBoolean()
        && !"none".equals(toolChoice.path("type").asText())) {
      toolChoice.put("disable_parallel_tool_use", true);
    }
    out.set("tool_choice", toolChoice);
  }

  /** Anthropic wants user and assistant turns to alternate: consecutive turns merge. */
  private static void append(ArrayNode messages, String role, ArrayNode blocks) {
    if (blocks.isEmpty()) {
      return;
    }
    JsonNode last = messages.isEmpty() ? null : messages.get(messages.size() - 1);
    if (last != null && role.equals(last.path("role").asText())) {
      ((ArrayNode) last.get("content")).addAll(blocks);
      return;
    }
    ObjectNode m = messages.addObject();
    m.put("role", role);
    m.set("content", blocks);
  }

  private static void appendContent(ArrayNode blocks, JsonNode content) {
    if (content == null || content.isNull()) {
      return;
    }
    if (content.isTextual()) {
      if (!content.asText().isEmpty()) {
        blocks.addObject().put("type", "text").put("text", content.asText());
      }
      return;
    }
    for (JsonNode part : content) {
      switch (part.path("type").asText()) {
        case "text" -> blocks.addObject().put("type", "text").put("text", part.path("text").asText());
        case "image_url" -> blocks.add(image(part.path("image_url").path("url").asText()));
        default -> { } // audio and files have no Messages equivalent in this translation
      }
    }
  }

  /** A data: URL becomes a base64 source, anything else a URL source. */
  private static ObjectNode image(String url) {
    ObjectNode block = Json.MAPPER.createObjectNode();
    block.put("type", "image");
    ObjectNode source = block.putObject("source");
    int comma = url.indexOf(',');
    if (url.startsWith("data:") && comma > 0 && url.substring(0, comma).endsWith(";base64")) {
      source.put("type", "base64");
      source.put("media_type", url.substring(5, url.indexOf(';')));
      source.put("data", url.substring(comma + 1));
    } else {
      source.put("type", "url");
      source.put("url", url);
    }
    return block;
  }
}
