package dev.weir.testkit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The scripted upstream's Anthropic Messages API ({@code POST /v1/messages}), strict like the real
 * one about what Weir must send: {@code x-api-key}, {@code anthropic-version}, {@code max_tokens},
 * alternating user/assistant turns, tool results only after tool uses. Answers a text message, or
 * a {@code tool_use} when the request forces a tool; streams Anthropic's SSE events.
 */
public final class AnthropicDialect {
  private static final ObjectMapper JSON = new ObjectMapper();

  private AnthropicDialect() {}

  static void answer(HttpExchange ex, JsonNode request, String text) throws IOException {
    String problem = problem(ex, request);
    if (problem != null) {
      ScriptedUpstream.send(ex, problem.startsWith("x-api-key") ? 401 : 400, "application/json", error(
          problem.startsWith("x-api-key") ? "authentication_error" : "invalid_request_error", problem));
      return;
    }
    String model = request.path("model").asText();
    JsonNode tool = forcedTool(request);
    int input = 10 + request.path("messages").size();
    if (request.path("stream").asBoolean(false)) {
      ScriptedUpstream.stream(ex, events(model, text, tool, input), Duration.ZERO);
      return;
    }
    ObjectNode msg = message(model, input);
    ArrayNode content = msg.putArray("content");
    if (tool != null) {
      ObjectNode use = content.addObject();
      use.put("type", "tool_use").put("id", "toolu_scripted").put("name", tool.path("name").asText());
      use.putObject("input").put("city", "Paris");
      msg.put("stop_reason", "tool_use");
    } else {
      content.addObject().put("type", "text").put("text", text);
      msg.put("stop_reason", "end_turn");
    }
    msg.putNull("stop_sequence");
    msg.putObject("usage").put("input_tokens", input).put("output_tokens", 5)
        .put("cache_read_input_tokens", 0).put("cache_creation_input_tokens", 0);
    ScriptedUpstream.send(ex, 200, "application/json", msg.toString());
  }

  /** An error in Anthropic's shape, e.g. for {@code Json(529, error("overloaded_error", ...))}. */
  public static String error(String type, String message) {
    ObjectNode root = JSON.createObjectNode();
    root.put("type", "error");
    root.putObject("error").put("type", type).put("message", message);
    return root.toString();
  }

  /** One SSE event as Anthropic frames it ({@code event:} line, then {@code data:}). */
  public static String event(String type, String json) {
    return "event: " + type + "\ndata: " + json + "\n\n";
  }

  /** The events of a streamed text answer, split into {@code parts} text deltas. */
  public static List<String> textEvents(String model, List<String> parts, int inputTokens) {
    List<String> out = new ArrayList<>();
    out.add(event("message_start", "{\"type\":\"message_start\",\"message\":" + startMessage(model, inputTokens) + "}"));
    out.add(event("content_block_start",
        "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}"));
    out.add(event("ping", "{\"type\":\"ping\"}"));
    for (String p : parts) {
      ObjectNode d = JSON.createObjectNode().put("type", "content_block_delta").put("index", 0);
      d.putObject("delta").put("type", "text_delta").put("text", p);
      out.add(event("content_block_delta", d.toString()));
    }
    out.add(event("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}"));
    out.add(event("message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
        + "\"stop_sequence\":null},\"usage\":{\"output_tokens\":" + parts.size() + "}}"));
    out.add(event("message_stop", "{\"type\":\"message_stop\"}"));
    return out;
  }

  private static List<String> events(String model, String text, JsonNode tool, int input) {
    if (tool == null) {
      return textEvents(model, List.of(text.substring(0, text.length() / 2), text.substring(text.length() / 2)), input);
    }
    List<String> out = new ArrayList<>();
    out.add(event("message_start", "{\"type\":\"message_start\",\"message\":" + startMessage(model, input) + "}"));
    ObjectNode start = JSON.createObjectNode().put("type", "content_block_start").put("index", 0);
    start.putObject("content_block").put("type", "tool_use").put("id", "toolu_scripted")
        .put("name", tool.path("name").asText()).putObject("input");
    out.add(event("content_block_start", start.toString()));
    for (String part : List.of("{\"city\":", " \"Paris\"}")) {
      ObjectNode d = JSON.createObjectNode().put("type", "content_block_delta").put("index", 0);
      d.putObject("delta").put("type", "input_json_delta").put("partial_json", part);
      out.add(event("content_block_delta", d.toString()));
    }
    out.add(event("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}"));
    out.add(event("message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\","
        + "\"stop_sequence\":null},\"usage\":{\"output_tokens\":7}}"));
    out.add(event("message_stop", "{\"type\":\"message_stop\"}"));
    return out;
  }

  private static String startMessage(String model, int input) {
    ObjectNode m = message(model, input);
    m.putArray("content");
    m.putNull("stop_reason");
    m.putNull("stop_sequence");
    m.putObject("usage").put("input_tokens", input).put("output_tokens", 1);
    return m.toString();
  }

  private static ObjectNode message(String model, int input) {
    ObjectNode m = JSON.createObjectNode();
    m.put("id", "msg_scripted");
    m.put("type", "message");
    m.put("role", "assistant");
    m.put("model", model);
    return m;
  }

  /** The tool a request forces ({@code any} forces the first), or null. */
  private static JsonNode forcedTool(JsonNode request) {
    String type = request.path("tool_choice").path("type").asText("");
    JsonNode tools = request.path("tools");
    if (type.equals("tool")) {
      for (JsonNode t : tools) {
        if (t.path("name").asText().equals(request.path("tool_choice").path("name").asText())) {
          return t;
        }
      }
    }
    return type.equals("any") && tools.size() > 0 ? tools.get(0) : null;
  }

  private static String problem(HttpExchange ex, JsonNode request) {
    if (ex.getRequestHeaders().getFirst("x-api-key") == null) {
      return "x-api-key header is required";
    }
    if (ex.getRequestHeaders().getFirst("anthropic-version") == null) {
      return "anthropic-version: header is required";
    }
    if (!request.path("max_tokens").canConvertToLong() || request.path("max_tokens").asLong() < 1) {
      return "max_tokens: Field required";
    }
    if (!request.path("messages").isArray() || request.path("messages").isEmpty()) {
      return "messages: Field required";
    }
    if (request.has("n") || request.has("stream_options") || request.has("max_completion_tokens")) {
      return "an OpenAI-only field reached the Messages API";
    }
    String previous = "";
    boolean toolUseSeen = false;
    for (JsonNode m : request.path("messages")) {
      String role = m.path("role").asText();
      if (!role.equals("user") && !role.equals("assistant")) {
        return "messages: Unexpected role \"" + role + "\"";
      }
      if (role.equals(previous)) {
        return "messages: roles must alternate between \"user\" and \"assistant\"";
      }
      previous = role;
      for (JsonNode block : m.path("content")) {
        String type = block.path("type").asText();
        toolUseSeen |= type.equals("tool_use");
        if (type.equals("tool_result") && !toolUseSeen) {
          return "messages: tool_result block(s) provided without a preceding tool_use";
        }
      }
    }
    if (!request.path("messages").get(0).path("role").asText().equals("user")) {
      return "messages: first message must use the \"user\" role";
    }
    return null;
  }
}
