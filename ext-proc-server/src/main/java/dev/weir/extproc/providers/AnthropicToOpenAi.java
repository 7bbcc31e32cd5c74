package dev.weir.extproc.providers;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weir.extproc.openai.Json;
import dev.weir.extproc.openai.SseParser;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Anthropic Messages answers as OpenAI chat completions: a {@code message} becomes a
 * {@code chat.completion}; the SSE events ({@code message_start}, {@code content_block_*} with text
 * and tool-input deltas, {@code message_delta} with the stop reason and output tokens,
 * {@code message_stop}, {@code error}) become {@code chat.completion.chunk} events, a usage chunk
 * and {@code [DONE]}; Anthropic errors become OpenAI error objects.
 */
final class AnthropicToOpenAi implements ResponseTranslator {
  private final String clientModel;
  private final SseParser sse = new SseParser(1 << 22);
  private final long created = System.currentTimeMillis() / 1000;
  private final Map<Integer, Integer> toolIndexByBlock = new HashMap<>();
  private String id = "chatcmpl-weir";
  private String model;
  private long inputTokens;
  private long cachedTokens;
  private long outputTokens;
  private boolean finished;

  AnthropicToOpenAi(String clientModel) {
    this.clientModel = clientModel;
    this.model = clientModel;
  }

  @Override
  public boolean streams(int status, String contentType) {
    return contentType.startsWith("text/event-stream");
  }

  @Override
  public byte[] translateBody(int status, byte[] body) {
    JsonNode root;
    try {
      root = Json.MAPPER.readTree(body);
    } catch (IOException e) {
      root = null;
    }
    if (status != 200 || root == null || !"message".equals(root.path("type").asText())) {
      return Json.bytes(error(status, root, body));
    }
    ObjectNode out = base("chat.completion", root.path("id").asText(id), root.path("model").asText(model));
    ObjectNode choice = out.putArray("choices").addObject();
    choice.put("index", 0);
    ObjectNode message = choice.putObject("message");
    message.put("role", "assistant");
    StringBuilder text = new StringBuilder();
    ArrayNode calls = Json.MAPPER.createArrayNode();
    for (JsonNode block : root.path("content")) {
      switch (block.path("type").asText()) {
        case "text" -> text.append(block.path("text").asText());
        case "tool_use" -> {
          ObjectNode call = calls.addObject();
          call.put("id", block.path("id").asText());
          call.put("type", "function");
          ObjectNode fn = call.putObject("function");
          fn.put("name", block.path("name").asText());
          fn.put("arguments", block.path("input").toString());
        }
        default -> { } // thinking blocks are not part of an OpenAI answer
      }
    }
    if (text.isEmpty() && !calls.isEmpty()) {
      message.putNull("content");
    } else {
      message.put("content", text.toString());
    }
    if (!calls.isEmpty()) {
      message.set("tool_calls", calls);
    }
    message.putNull("refusal");
    choice.putNull("logprobs");
    choice.put("finish_reason", finishReason(root.path("stop_reason").asText()));
    readUsage(root.path("usage"));
    out.set("usage", usage());
    return Json.bytes(out);
  }

  @Override
  public List<String> translateStream(byte[] chunk, boolean endOfStream) {
    List<String> out = new ArrayList<>();
    List<SseParser.Event> events = new ArrayList<>(sse.feed(chunk));
    if (endOfStream) {
      events.addAll(sse.finish());
    }
    for (SseParser.Event event : events) {
      if (event.data() != null && !finished) {
        onEvent(event.data(), out);
      }
    }
    if (endOfStream && !finished) {
      finished = true;
      out.add(Json.MAPPER.createObjectNode().set("error", OpenAiChunks.errorBody("server_error", "stream_interrupted",
          "The backend's stream ended before message_stop; the answer is incomplete.")).toString());
    }
    return out;
  }

  private void onEvent(String data, List<String> out) {
    JsonNode event;
    try {
      event = Json.MAPPER.readTree(data);
    } catch (IOException e) {
      finished = true;
      out.add(Json.MAPPER.createObjectNode().set("error", OpenAiChunks.errorBody("server_error", "malformed_stream",
          "The backend sent an event that is not JSON; the answer is incomplete.")).toString());
      return;
    }
    switch (event.path("type").asText()) {
      case "message_start" -> {
        JsonNode message = event.path("message");
        id = message.path("id").asText(id);
        model = message.path("model").asText(model);
        readUsage(message.path("usage"));
        ObjectNode c = chunk();
        ObjectNode delta = OpenAiChunks.delta(c);
        delta.put("role", "assistant");
        delta.put("content", "");
        out.add(c.toString());
      }
      case "content_block_start" -> {
        JsonNode block = event.path("content_block");
        if ("tool_use".equals(block.path("type").asText())) {
          int toolIndex = toolIndexByBlock.size();
          toolIndexByBlock.put(event.path("index").asInt(), toolIndex);
          ObjectNode c = chunk();
          ObjectNode call = OpenAiChunks.delta(c).putArray("tool_calls").addObject();
          call.put("index", toolIndex);
          call.put("id", block.path("id").asText());
          call.put("type", "function");
          call.putObject("function").put("name", block.path("name").asText()).put("arguments", "");
          out.add(c.toString());
        }
      }
      case "content_block_delta" -> {
        JsonNode d = event.path("delta");
        switch (d.path("type").asText()) {
          case "text_delta" -> {
            ObjectNode c = chunk();
            OpenAiChunks.delta(c).put("content", d.path("text").asText());
            out.add(c.toString());
          }
          case "input_json_delta" -> {
            Integer toolIndex = toolIndexByBlock.get(event.path("index").asInt());
            if (toolIndex != null) {
              ObjectNode c = chunk();
              ObjectNode call = OpenAiChunks.delta(c).putArray("tool_calls").addObject();
              call.put("index", toolIndex);
              call.putObject("function").put("arguments", d.path("partial_json").asText());
              out.add(c.toString());
            }
          }
          default -> { } // thinking and signature deltas have no OpenAI chunk
        }
      }
      case "message_delta" -> {
        readUsage(event.path("usage"));
        String stop = event.path("delta").path("stop_reason").asText("");
        if (!stop.isEmpty()) {
          ObjectNode c = chunk();
          OpenAiChunks.delta(c);
          ((ObjectNode) c.path("choices").get(0)).put("finish_reason", finishReason(stop));
          out.add(c.toString());
        }
      }
      case "message_stop" -> {
        finished = true;
        ObjectNode c = base("chat.completion.chunk", id, model);
        c.putArray("choices");
        c.set("usage", usage());
        out.add(c.toString());
        out.add("[DONE]");
      }
      case "error" -> {
        finished = true;
        out.add(Json.MAPPER.createObjectNode().set("error", OpenAiChunks.errorBody(
            openAiType(event.path("error").path("type").asText()), event.path("error").path("type").asText("error"),
            event.path("error").path("message").asText("The backend reported an error mid-stream."))).toString());
      }
      default -> { } // ping, content_block_stop
    }
  }

  private ObjectNode chunk() {
    return OpenAiChunks.chunk(id, created, answeringModel());
  }

  private ObjectNode base(String object, String messageId, String answeringModel) {
    return OpenAiChunks.base(object, messageId, created,
        answeringModel == null || answeringModel.isEmpty() ? clientModel : answeringModel);
  }

  private String answeringModel() {
    return model == null || model.isEmpty() ? clientModel : model;
  }

  private ObjectNode usage() {
    return OpenAiChunks.usage(inputTokens, outputTokens, cachedTokens);
  }

  /** Anthropic counts cache reads and writes apart from input_tokens; OpenAI's prompt includes them. */
  private void readUsage(JsonNode usage) {
    if (usage.has("input_tokens")) {
      inputTokens = usage.path("input_tokens").asLong() + usage.path("cache_read_input_tokens").asLong()
          + usage.path("cache_creation_input_tokens").asLong();
      cachedTokens = usage.path("cache_read_input_tokens").asLong();
    }
    if (usage.has("output_tokens")) {
      outputTokens = usage.path("output_tokens").asLong();
    }
  }

  static String finishReason(String stopReason) {
    return switch (stopReason) {
      case "max_tokens", "model_context_window_exceeded" -> "length";
      case "tool_use" -> "tool_calls";
      case "refusal" -> "content_filter";
      default -> "stop"; // end_turn, stop_sequence, pause_turn
    };
  }

  /** An Anthropic error ({"type":"error","error":{type,message}}) in OpenAI's shape. */
  private static ObjectNode error(int status, JsonNode root, byte[] raw) {
    JsonNode e = root == null ? null : root.path("error");
    String type = e == null || e.isMissingNode() ? "" : e.path("type").asText("");
    String message = e == null || e.isMissingNode() ? ""
        : e.path("message").asText("");
    if (message.isEmpty()) {
      message = "The backend answered " + status + (root == null ? " with a body that is not JSON." : ".");
    }
    ObjectNode out = Json.MAPPER.createObjectNode();
    out.set("error", OpenAiChunks.errorBody(type.isEmpty() ? (status >= 500 ? "server_error" : "invalid_request_error")
        : openAiType(type), type.isEmpty() ? Integer.toString(status) : type, message));
    return out;
  }

  private static String openAiType(String anthropicType) {
    return switch (anthropicType) {
      case "invalid_request_error", "not_found_error", "request_too_large" -> "invalid_request_error";
      case "authentication_error" -> "authentication_error";
      case "permission_error" -> "permission_error";
      case "rate_limit_error" -> "rate_limit_exceeded";
      default -> "server_error"; // api_error, overloaded_error
    };
  }

}
