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
 * The scripted upstream's OpenAI Responses API ({@code POST /v1/responses}, also Azure's
 * {@code /openai/v1/responses}): a {@code response} object with one output message and
 * {@code usage} ({@code input_tokens}, {@code output_tokens} and their details), or, when the
 * request streams, the typed events OpenAI sends ({@code response.created} …
 * {@code response.output_text.delta} … {@code response.completed} carrying the usage). Refuses a
 * request without {@code model} or with chat-completion fields, as the real API does.
 */
public final class ResponsesDialect {
  private static final ObjectMapper JSON = new ObjectMapper();
  /** Usage the scripted answer reports: fixed, so tests can tell reported usage from counted. */
  public static final int INPUT_TOKENS = 21;
  public static final int CACHED_TOKENS = 4;
  public static final int REASONING_TOKENS = 2;

  private ResponsesDialect() {}

  static void answer(HttpExchange ex, JsonNode request, String model, String text) throws IOException {
    String problem = problem(request);
    if (problem != null) {
      ScriptedUpstream.send(ex, 400, "application/json",
          "{\"error\":{\"message\":\"" + problem + "\",\"type\":\"invalid_request_error\",\"param\":null,"
              + "\"code\":null}}");
      return;
    }
    List<String> words = new ArrayList<>(List.of(text.split("(?<= )")));
    if (request.path("stream").asBoolean(false)) {
      ScriptedUpstream.stream(ex, events(request, model, words), Duration.ZERO);
      return;
    }
    ScriptedUpstream.send(ex, 200, "application/json", response(request, model, text, words.size(), true).toString());
  }

  private static String problem(JsonNode request) {
    if (!request.path("model").isTextual()) {
      return "Missing required parameter: 'model'.";
    }
    for (String chatOnly : List.of("messages", "max_tokens", "max_completion_tokens", "stream_options", "n")) {
      if (request.has(chatOnly)) {
        return "Unknown parameter: '" + chatOnly + "'.";
      }
    }
    return null;
  }

  /** A {@code response} object, completed (with usage and output) or in progress (without). */
  static ObjectNode response(JsonNode request, String model, String text, int outputTokens, boolean completed) {
    ObjectNode r = JSON.createObjectNode();
    r.put("id", "resp_scripted");
    r.put("object", "response");
    r.put("created_at", 1_700_000_000L);
    r.put("status", completed ? "completed" : "in_progress");
    r.putNull("error");
    r.putNull("incomplete_details");
    if (request.path("instructions").isTextual()) {
      r.put("instructions", request.path("instructions").asText());
    } else {
      r.putNull("instructions");
    }
    r.putNull("max_output_tokens");
    r.put("model", model);
    ArrayNode output = r.putArray("output");
    if (completed) {
      output.add(message(text, "completed"));
    }
    r.put("parallel_tool_calls", true);
    r.putNull("previous_response_id");
    r.put("store", false);
    r.put("temperature", 1.0);
    r.put("tool_choice", "auto");
    r.putArray("tools");
    r.put("top_p", 1.0);
    r.put("truncation", "disabled");
    r.putObject("metadata");
    if (completed) {
      ObjectNode u = r.putObject("usage");
      u.put("input_tokens", INPUT_TOKENS);
      u.putObject("input_tokens_details").put("cached_tokens", CACHED_TOKENS);
      u.put("output_tokens", outputTokens + REASONING_TOKENS);
      u.putObject("output_tokens_details").put("reasoning_tokens", REASONING_TOKENS);
      u.put("total_tokens", INPUT_TOKENS + outputTokens + REASONING_TOKENS);
    } else {
      r.putNull("usage");
    }
    return r;
  }

  private static ObjectNode message(String text, String status) {
    ObjectNode m = JSON.createObjectNode();
    m.put("type", "message");
    m.put("id", "msg_scripted");
    m.put("status", status);
    m.put("role", "assistant");
    ArrayNode content = m.putArray("content");
    if (text != null) {
      content.add(outputText(text));
    }
    return m;
  }

  private static ObjectNode outputText(String text) {
    ObjectNode part = JSON.createObjectNode();
    part.put("type", "output_text");
    part.put("text", text);
    part.putArray("annotations");
    part.putArray("logprobs");
    return part;
  }

  /** The events of a streamed answer, as OpenAI frames them ({@code event:} line, then {@code data:}). */
  public static List<String> events(JsonNode request, String model, List<String> words) {
    String text = String.join("", words);
    List<String> out = new ArrayList<>();
    int[] seq = {0};
    ObjectNode created = typed("response.created", seq);
    created.set("response", response(request, model, text, 0, false));
    out.add(event(created));
    ObjectNode inProgress = typed("response.in_progress", seq);
    inProgress.set("response", response(request, model, text, 0, false));
    out.add(event(inProgress));
    ObjectNode added = typed("response.output_item.added", seq);
    added.put("output_index", 0);
    added.set("item", message(null, "in_progress"));
    out.add(event(added));
    ObjectNode partAdded = typed("response.content_part.added", seq);
    partAdded.put("item_id", "msg_scripted").put("output_index", 0).put("content_index", 0);
    partAdded.set("part", outputText(""));
    out.add(event(partAdded));
    for (String w : words) {
      ObjectNode delta = typed("response.output_text.delta", seq);
      delta.put("item_id", "msg_scripted").put("output_index", 0).put("content_index", 0).put("delta", w);
      delta.putArray("logprobs");
      out.add(event(delta));
    }
    ObjectNode textDone = typed("response.output_text.done", seq);
    textDone.put("item_id", "msg_scripted").put("output_index", 0).put("content_index", 0).put("text", text);
    textDone.putArray("logprobs");
    out.add(event(textDone));
    ObjectNode partDone = typed("response.content_part.done", seq);
    partDone.put("item_id", "msg_scripted").put("output_index", 0).put("content_index", 0);
    partDone.set("part", outputText(text));
    out.add(event(partDone));
    ObjectNode itemDone = typed("response.output_item.done", seq);
    itemDone.put("output_index", 0);
    itemDone.set("item", message(text, "completed"));
    out.add(event(itemDone));
    ObjectNode completed = typed("response.completed", seq);
    completed.set("response", response(request, model, text, words.size(), true));
    out.add(event(completed));
    return out;
  }

  private static ObjectNode typed(String type, int[] seq) {
    ObjectNode e = JSON.createObjectNode();
    e.put("type", type);
    e.put("sequence_number", seq[0]++);
    return e;
  }

  private static String event(ObjectNode e) {
    return "event: " + e.path("type").asText() + "\ndata: " + e + "\n\n";
  }
}
