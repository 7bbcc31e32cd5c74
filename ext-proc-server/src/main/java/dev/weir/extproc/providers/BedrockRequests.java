package dev.weir.extproc.providers;

import static dev.weir.extproc.providers.ChatRequestParts.arguments;
import static dev.weir.extproc.providers.ChatRequestParts.copyNumber;
import static dev.weir.extproc.providers.ChatRequestParts.hasToolHistory;
import static dev.weir.extproc.providers.ChatRequestParts.text;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weir.extproc.openai.Json;
import java.util.Locale;

/**
 * OpenAI chat completion requests as Bedrock Converse requests: system and developer messages
 * become {@code system} blocks; user, assistant and tool turns become alternating {@code messages}
 * with {@code text}, {@code image}, {@code toolUse} and {@code toolResult} blocks;
 * {@code max_tokens}, {@code temperature}, {@code top_p} and {@code stop} go to
 * {@code inferenceConfig}; tools and tool choice to {@code toolConfig}. The model is not in the
 * body: Converse names it in the path. OpenAI fields Converse has no equivalent for ({@code n},
 * {@code logprobs}, {@code response_format}, penalties, {@code seed}) are not sent.
 */
final class BedrockRequests {
  private BedrockRequests() {}

  static ObjectNode fromChatCompletion(ObjectNode openai) {
    ObjectNode out = Json.MAPPER.createObjectNode();
    ArrayNode system = Json.MAPPER.createArrayNode();
    ArrayNode messages = out.putArray("messages");
    for (JsonNode m : openai.path("messages")) {
      switch (m.path("role").asText()) {
        case "system", "developer" -> {
          String text = text(m.get("content"));
          if (!text.isEmpty()) {
            system.addObject().put("text", text);
          }
        }
        case "assistant" -> {
          ArrayNode blocks = Json.MAPPER.createArrayNode();
          appendContent(blocks, m.get("content"));
          for (JsonNode call : m.path("tool_calls")) {
            ObjectNode use = blocks.addObject().putObject("toolUse");
            use.put("toolUseId", call.path("id").asText());
            use.put("name", call.path("function").path("name").asText());
            use.set("input", arguments(call.path("function").path("arguments").asText("{}")));
          }
          append(messages, "assistant", blocks);
        }
        case "tool", "function" -> {
          ArrayNode blocks = Json.MAPPER.createArrayNode();
          ObjectNode result = blocks.addObject().putObject("toolResult");
          result.put("toolUseId", m.path("tool_call_id").asText(m.path("name").asText()));
          result.putArray("content").addObject().put("text", text(m.get("content")));
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
      out.set("system", system);
    }
    ObjectNode inference = Json.MAPPER.createObjectNode();
    long maxTokens = openai.path("max_completion_tokens").asLong(openai.path("max_tokens").asLong(0));
    if (maxTokens > 0) {
      inference.put("maxTokens", maxTokens);
    }
    copyNumber(openai, inference, "temperature", "temperature");
    copyNumber(openai, inference, "top_p", "topP");
    JsonNode stop = openai.get("stop");
    if (stop != null && stop.isTextual()) {
      inference.putArray("stopSequences").add(stop.asText());
    } else if (stop != null && stop.isArray() && !stop.isEmpty()) {
      inference.set("stopSequences", stop.deepCopy());
    }
    if (!inference.isEmpty()) {
      out.set("inferenceConfig", inference);
    }
    tools(openai, out);
    return out;
  }

  private static void tools(ObjectNode openai, ObjectNode out) {
    JsonNode tools = openai.path("tools");
    JsonNode tc = openai.get("tool_choice");
    String choice = tc != null && tc.isTextual() ? tc.asText() : null;
    boolean history = hasToolHistory(openai);
    // Converse has no "none" choice; it refuses toolUse/toolResult blocks without a toolConfig, so
    // a conversation with tool history keeps its tools.
    if (!tools.isArray() || tools.isEmpty() || "none".equals(choice) && !history) {
      return;
    }
    ObjectNode config = out.putObject("toolConfig");
    ArrayNode list = config.putArray("tools");
    for (JsonNode t : tools) {
      JsonNode f = t.path("function");
      ObjectNode spec = list.addObject().putObject("toolSpec");
      spec.put("name", f.path("name").asText());
      if (f.hasNonNull("description")) {
        spec.put("description", f.path("description").asText());
      }
      spec.putObject("inputSchema").set("json", f.has("parameters") ? f.get("parameters").deepCopy()
          : Json.MAPPER.createObjectNode().put("type", "object"));
    }
    if (tc != null && tc.isObject()) {
      config.putObject("toolChoice").putObject("tool").put("name", tc.path("function").path("name").asText());
    } else if ("required".equals(choice)) {
      config.putObject("toolChoice").putObject("any");
    } else if (!"none".equals(choice)) {
      config.putObject("toolChoice").putObject("auto");
    }
  }

  /** Converse wants user and assistant turns to alternate: consecutive turns merge. */
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
        blocks.addObject().put("text", content.asText());
      }
      return;
    }
    for (JsonNode part : content) {
      switch (part.path("type").asText()) {
        case "text" -> blocks.addObject().put("text", part.path("text").asText());
        case "image_url" -> blocks.add(image(part.path("image_url").path("url").asText()));
        default -> { } // audio and files have no Converse equivalent in this translation
      }
    }
  }

  /**
   * Converse takes image bytes, not URLs: a base64 data: URL becomes an image block; any other URL
   * is named in a text block so the model (and the reader of the transcript) sees what was meant.
   */
  private static ObjectNode image(String url) {
    ObjectNode block = Json.MAPPER.createObjectNode();
    int comma = url.indexOf(',');
    if (url.startsWith("data:image/") && comma > 0 && url.substring(0, comma).endsWith(";base64")) {
      String format = url.substring("data:image/".length(), url.indexOf(';')).toLowerCase(Locale.ROOT);
      ObjectNode image = block.putObject("image");
      image.put("format", format.equals("jpg") ? "jpeg" : format);
      image.putObject("source").put("bytes", url.substring(comma + 1));
    } else {
      block.put("text", "[image: " + url + "]");
    }
    return block;
  }
}
