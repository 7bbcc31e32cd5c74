package dev.weir.extproc.providers;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weir.extproc.openai.Json;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import software.amazon.awssdk.eventstream.HeaderValue;
import software.amazon.awssdk.eventstream.Message;
import software.amazon.awssdk.eventstream.MessageDecoder;

/**
 * Bedrock Converse answers as OpenAI chat completions: a Converse answer becomes a
 * {@code chat.completion}; ConverseStream's event-stream frames ({@code messageStart},
 * {@code contentBlockStart/Delta/Stop} with text and tool-input deltas, {@code messageStop} with
 * the stop reason, {@code metadata} with usage) become {@code chat.completion.chunk} events, a
 * usage chunk and {@code [DONE]}. Exception frames, frames whose checksums fail and streams cut
 * before their end become an OpenAI error event, so the client never takes them as complete.
 */
final class BedrockToOpenAi implements ResponseTranslator {
  /** ConverseStream's framing (AWS event stream, binary, with CRC32 checksums). */
  static final String EVENT_STREAM = "application/vnd.amazon.eventstream";

  private final String model;
  private final String id = "chatcmpl-bedrock-" + UUID.randomUUID();
  private final long created = System.currentTimeMillis() / 1000;
  /** The AWS SDK's decoder: it buffers partial frames and checks the prelude and message CRCs. */
  private final MessageDecoder decoder = new MessageDecoder();
  private final Map<Integer, Integer> toolIndexByBlock = new HashMap<>();
  private long inputTokens;
  private long cachedTokens;
  private long outputTokens;
  private boolean stopped;
  private boolean finished;

  BedrockToOpenAi(String clientModel) {
    this.model = clientModel;
  }

  @Override
  public boolean streams(int status, String contentType) {
    return contentType.startsWith(EVENT_STREAM);
  }

  @Override
  public byte[] translateBody(int status, byte[] body) {
    JsonNode root;
    try {
      root = Json.MAPPER.readTree(body);
    } catch (IOException e) {
      root = null;
    }
    if (status != 200 || root == null || !root.path("output").has("message")) {
      return Json.bytes(Json.MAPPER.createObjectNode().set("error", httpError(status, root)));
    }
    ObjectNode out = base("chat.completion");
    ObjectNode choice = out.putArray("choices").addObject();
    choice.put("index", 0);
    ObjectNode message = choice.putObject("message");
    message.put("role", "assistant");
    StringBuilder text = new StringBuilder();
    ArrayNode calls = Json.MAPPER.createArrayNode();
    for (JsonNode block : root.path("output").path("message").path("content")) {
      if (block.has("text")) {
        text.append(block.path("text").asText());
      } else if (block.has("toolUse")) {
        JsonNode use = block.path("toolUse");
        ObjectNode call = calls.addObject();
        call.put("id", use.path("toolUseId").asText());
        call.put("type", "function");
        ObjectNode fn = call.putObject("function");
        fn.put("name", use.path("name").asText());
        fn.put("arguments", use.path("input").toString());
      } // reasoningContent and guardContent are not part of an OpenAI answer
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
    choice.put("finish_reason", finishReason(root.path("stopReason").asText()));
    readUsage(root.path("usage"));
    out.set("usage", usage());
    return Json.bytes(out);
  }

  @Override
  public List<String> translateStream(byte[] chunk, boolean endOfStream) {
    List<String> out = new ArrayList<>();
    if (!finished) {
      RuntimeException refused = null;
      try {
        decoder.feed(chunk);
      } catch (RuntimeException e) {
        // The decoder refuses a frame whose prelude or message CRC does not match; nothing after it
        // can be framed reliably, but the frames before it are good.
        refused = e;
      }
      for (Message frame : decoder.getDecodedMessages()) {
        if (!finished) {
          onFrame(frame, out);
        }
      }
      if (refused != null && !finished) {
        fail(out, "malformed_stream", "The backend sent an event-stream frame that failed its checks ("
            + refused.getMessage() + "); the answer is incomplete.");
      }
    }
    if (endOfStream && !finished) {
      if (stopped) {
        // messageStop came but no metadata frame: the answer is whole, its usage unknown.
        finished = true;
        out.add("[DONE]");
      } else {
        fail(out, "stream_interrupted", "The backend's stream ended before messageStop; the answer is incomplete.");
      }
    }
    return out;
  }

  private void onFrame(Message frame, List<String> out) {
    String messageType = header(frame, ":message-type");
    if ("exception".equals(messageType)) {
      String type = header(frame, ":exception-type");
      JsonNode payload = payload(frame);
      String message = payload == null ? "" : payload.path("message").asText(payload.path("Message").asText(""));
      fail(out, openAiType(type), type == null ? "exception" : type,
          message.isEmpty() ? "The backend reported " + type + " mid-stream." : message);
      return;
    }
    if ("error".equals(messageType)) {
      String code = header(frame, ":error-code");
      fail(out, "server_error", code == null ? "error" : code, String.valueOf(header(frame, ":error-message")));
      return;
    }
    JsonNode event = payload(frame);
    if (event == null) {
      fail(out, "malformed_stream", "The backend sent an event whose payload is not JSON; the answer is incomplete.");
      return;
    }
    switch (String.valueOf(header(frame, ":event-type"))) {
      case "messageStart" -> {
        ObjectNode c = chunk();
        ObjectNode delta = OpenAiChunks.delta(c);
        delta.put("role", "assistant");
        delta.put("content", "");
        out.add(c.toString());
      }
      case "contentBlockStart" -> {
        JsonNode use = event.path("start").path("toolUse");
        if (use.isObject()) {
          int toolIndex = toolIndexByBlock.size();
          toolIndexByBlock.put(event.path("contentBlockIndex").asInt(), toolIndex);
          ObjectNode c = chunk();
          ObjectNode call = OpenAiChunks.delta(c).putArray("tool_calls").addObject();
          call.put("index", toolIndex);
          call.put("id", use.path("toolUseId").asText());
          call.put("type", "function");
          call.putObject("function").put("name", use.path("name").asText()).put("arguments", "");
          out.add(c.toString());
        }
      }
      case "contentBlockDelta" -> {
        JsonNode d = event.path("delta");
        if (d.has("text")) {
          ObjectNode c = chunk();
          OpenAiChunks.delta(c).put("content", d.path("text").asText());
          out.add(c.toString());
        } else if (d.has("toolUse")) {
          Integer toolIndex = toolIndexByBlock.get(event.path("contentBlockIndex").asInt());
          if (toolIndex != null) {
            ObjectNode c = chunk();
            ObjectNode call = OpenAiChunks.delta(c).putArray("tool_calls").addObject();
            call.put("index", toolIndex);
            call.putObject("function").put("arguments", d.path("toolUse").path("input").asText());
            out.add(c.toString());
          }
        } // reasoningContent deltas have no OpenAI chunk
      }
      case "messageStop" -> {
        stopped = true;
        ObjectNode c = chunk();
        ((ObjectNode) c.path("choices").get(0)).put("finish_reason", finishReason(event.path("stopReason").asText()));
        out.add(c.toString());
      }
      case "metadata" -> {
        readUsage(event.path("usage"));
        if (stopped) {
          finished = true;
          ObjectNode c = base("chat.completion.chunk");
          c.putArray("choices");
          c.set("usage", usage());
          out.add(c.toString());
          out.add("[DONE]");
        }
      }
      default -> { } // contentBlockStop, and event types added after this translation was written
    }
  }

  private static String header(Message frame, String name) {
    HeaderValue v = frame.getHeaders().get(name);
    return v == null ? null : v.getString();
  }

  private static JsonNode payload(Message frame) {
    try {
      JsonNode node = Json.MAPPER.readTree(new String(frame.getPayload(), StandardCharsets.UTF_8));
      return node != null && node.isObject() ? node : null;
    } catch (IOException e) {
      return null;
    }
  }

  private void fail(List<String> out, String code, String message) {
    fail(out, "server_error", code, message);
  }

  private void fail(List<String> out, String type, String code, String message) {
    finished = true;
    out.add(Json.MAPPER.createObjectNode().set("error", OpenAiChunks.errorBody(type, code, message)).toString());
  }

  private ObjectNode chunk() {
    return OpenAiChunks.chunk(id, created, model);
  }

  /** Converse answers carry no id or model; the client's model name stands for the model. */
  private ObjectNode base(String object) {
    return OpenAiChunks.base(object, id, created, model);
  }

  private ObjectNode usage() {
    return OpenAiChunks.usage(inputTokens, outputTokens, cachedTokens);
  }

  /** Bedrock counts cache reads and writes apart from inputTokens; OpenAI's prompt includes them. */
  private void readUsage(JsonNode usage) {
    if (usage.has("inputTokens")) {
      cachedTokens = usage.path("cacheReadInputTokens").asLong();
      inputTokens = usage.path("inputTokens").asLong() + cachedTokens + usage.path("cacheWriteInputTokens").asLong();
    }
    if (usage.has("outputTokens")) {
      outputTokens = usage.path("outputTokens").asLong();
    }
  }

  static String finishReason(String stopReason) {
    return switch (stopReason) {
      case "max_tokens", "model_context_window_exceeded" -> "length";
      case "tool_use" -> "tool_calls";
      case "guardrail_intervened", "content_filtered" -> "content_filter";
      default -> "stop"; // end_turn, stop_sequence
    };
  }

  /**
   * A Bedrock HTTP error ({@code {"message": ...}}; its exception name travels in the
   * {@code x-amzn-errortype} header, which translators do not see) as an OpenAI error object,
   * named by the exception Bedrock documents for the status.
   */
  private static ObjectNode httpError(int status, JsonNode root) {
    String message = root == null ? "" : root.path("message").asText(root.path("Message").asText(""));
    if (message.isEmpty()) {
      message = "The backend answered " + status + (root == null ? " with a body that is not JSON." : ".");
    }
    String code = switch (status) {
      case 400 -> "ValidationException";
      case 403 -> "AccessDeniedException";
      case 404 -> "ResourceNotFoundException";
      case 408 -> "ModelTimeoutException";
      case 424 -> "ModelErrorException";
      case 429 -> "ThrottlingException";
      case 503 -> "ServiceUnavailableException";
      case 200 -> "malformed_response";
      default -> status >= 500 ? "InternalServerException" : Integer.toString(status);
    };
    String type = switch (status) {
      case 400, 404 -> "invalid_request_error";
      case 401 -> "authentication_error";
      case 403 -> "permission_error";
      case 429 -> "rate_limit_exceeded";
      default -> "server_error";
    };
    return OpenAiChunks.errorBody(type, code, message);
  }

  /** The OpenAI error type for a ConverseStream exception frame's {@code :exception-type}. */
  private static String openAiType(String exceptionType) {
    return switch (exceptionType == null ? "" : exceptionType) {
      case "throttlingException" -> "rate_limit_exceeded";
      case "validationException" -> "invalid_request_error";
      default -> "server_error"; // internalServerException, modelStreamErrorException, serviceUnavailableException
    };
  }

}
