package dev.weir.extproc.dialects;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weir.extproc.openai.ApiError;
import dev.weir.extproc.openai.Json;
import dev.weir.extproc.openai.ParsedRequest;
import dev.weir.extproc.openai.Usage;
import dev.weir.extproc.providers.ResponseTranslator;
import dev.weir.extproc.tokens.TokenCounter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Anthropic's Messages API ({@code POST /v1/messages}) for native clients: {@code max_tokens} and
 * user/assistant {@code messages} required (as Anthropic requires them) and {@code max_tokens}
 * reserved; the prompt estimated from {@code system}, the messages' blocks and {@code tools};
 * usage read from {@code usage.input_tokens}/{@code output_tokens} and the cache fields, in a
 * {@code message} or in a stream's {@code message_start} and {@code message_delta} events; the
 * gateway's errors in Anthropic's shape ({@code {"type":"error","error":{"type","message"}}}).
 *
 * <p>Claude's tokenizer is not published: the estimate counts with the model's configured encoding
 * (cl100k_base unless set), with OpenAI chat's framing per message, and is reconciled with the
 * usage Anthropic reports.
 */
final class AnthropicMessagesDialect implements Dialect {
  static final int TOKENS_PER_MESSAGE = 3;
  static final int REPLY_PRIMING = 3;
  private static final Set<String> ROLES = Set.of("user", "assistant");

  @Override
  public ApiError validate(ObjectNode body) {
    JsonNode maxTokens = body.get("max_tokens");
    if (maxTokens == null || maxTokens.isNull()) {
      return ApiError.badRequest("missing_max_tokens", "max_tokens: Field required");
    }
    ApiError invalid = Requirements.positiveIntegerIfPresent(body, "max_tokens");
    if (invalid != null) {
      return invalid;
    }
    return Requirements.nonEmptyMessages(body, "messages", ROLES);
  }

  @Override
  public long promptTokens(TokenCounter tokens, ParsedRequest request) {
    JsonNode body = request.body();
    List<String> pieces = new ArrayList<>();
    long fixed = REPLY_PRIMING;
    JsonNode system = body.get("system");
    if (system != null && system.isTextual()) {
      pieces.add(system.asText());
    } else if (system != null && system.isArray()) {
      fixed += blocks(tokens, system, pieces);
    }
    for (JsonNode message : body.path("messages")) {
      fixed += TOKENS_PER_MESSAGE;
      pieces.add(message.path("role").asText(""));
      JsonNode content = message.get("content");
      if (content != null && content.isTextual()) {
        pieces.add(content.asText());
      } else if (content != null && content.isArray()) {
        fixed += blocks(tokens, content, pieces);
      }
    }
    if (body.has("tools")) {
      pieces.add(body.get("tools").toString());
    }
    return fixed + tokens.countAll(request.model(), pieces);
  }

  /** Adds the text of content blocks to {@code pieces}; returns the tokens of images and documents. */
  private static long blocks(TokenCounter tokens, JsonNode blocks, List<String> pieces) {
    long fixed = 0;
    for (JsonNode block : blocks) {
      switch (block.path("type").asText("")) {
        case "text" -> pieces.add(block.path("text").asText(""));
        case "image" -> fixed += tokens.imageTokens(false);
        // A PDF's cost depends on its pages, unknown here: an image's estimate, reconciled later.
        case "document" -> {
          if ("text".equals(block.path("source").path("type").asText())) {
            pieces.add(block.path("source").path("data").asText(""));
          } else {
            fixed += tokens.imageTokens(false);
          }
        }
        case "tool_use" -> {
          pieces.add(block.path("name").asText(""));
          pieces.add(block.path("input").toString());
        }
        case "tool_result" -> {
          JsonNode content = block.get("content");
          if (content != null && content.isTextual()) {
            pieces.add(content.asText());
          } else if (content != null && content.isArray()) {
            fixed += blocks(tokens, content, pieces);
          }
        }
        case "thinking" -> pieces.add(block.path("thinking").asText(""));
        case "redacted_thinking" -> { } // opaque: Anthropic does not bill it as prompt text
        default -> pieces.add(block.toString());
      }
    }
    return fixed;
  }

  @Override
  public long maxOutputTokens(JsonNode body) {
    return Math.max(0, body.path("max_tokens").asLong(0));
  }

  @Override
  public Usage usage(JsonNode answer) {
    return "message".equals(answer.path("type").asText()) ? usageOf(answer.path("usage"), null) : null;
  }

  /**
   * Anthropic counts cache reads and writes apart from {@code input_tokens}; the gateway's prompt
   * tokens include them, as OpenAI's do, with the reads as the cached part.
   */
  static Usage usageOf(JsonNode usage, Usage before) {
    if (!usage.isObject()) {
      return before;
    }
    long input = before == null ? 0 : before.promptTokens();
    long cached = before == null ? 0 : Math.max(0, before.cachedPromptTokens());
    long output = before == null ? 0 : before.completionTokens();
    if (usage.has("input_tokens")) {
      long reads = usage.path("cache_read_input_tokens").asLong(0);
      input = usage.path("input_tokens").asLong(0) + reads + usage.path("cache_creation_input_tokens").asLong(0);
      cached = reads;
    }
    if (usage.has("output_tokens")) {
      output = usage.path("output_tokens").asLong(0);
    }
    return new Usage(input, output, input + output, -1, cached);
  }

  @Override
  public StreamReader streamReader(ParsedRequest request) {
    return new StreamReader() {
      private Usage sofar;

      @Override
      public Read read(JsonNode event, StringBuilder text) {
        switch (event.path("type").asText("")) {
          case "message_start" -> sofar = usageOf(event.path("message").path("usage"), sofar);
          case "content_block_delta" -> {
            JsonNode delta = event.path("delta");
            text.append(delta.path("text").asText(""));
            text.append(delta.path("partial_json").asText(""));
            text.append(delta.path("thinking").asText(""));
          }
          case "content_block_start" -> {
            // A tool call's name is generated text too.
            if ("tool_use".equals(event.path("content_block").path("type").asText())) {
              text.append(event.path("content_block").path("name").asText(""));
            }
          }
          // output_tokens in message_delta is the answer's final, cumulative count.
          case "message_delta" -> {
            sofar = usageOf(event.path("usage"), sofar);
            return new Read(sofar, false);
          }
          default -> { }
        }
        return Read.NOTHING;
      }

      @Override
      public long reportedInputTokens() {
        return sofar == null ? -1 : sofar.promptTokens();
      }
    };
  }

  @Override
  public byte[] clientError(int status, byte[] openAiError) {
    ApiError error = ApiError.parse(status, openAiError);
    ObjectNode root = Json.MAPPER.createObjectNode();
    root.put("type", "error");
    root.putObject("error").put("type", errorType(status)).put("message", error.message());
    return root.toString().getBytes(StandardCharsets.UTF_8);
  }

  @Override
  public ResponseTranslator localReplyTranslator() {
    return new ResponseTranslator() {
      @Override
      public boolean streams(int status, String contentType) {
        return false;
      }

      @Override
      public byte[] translateBody(int status, byte[] body) {
        return status >= 400 ? clientError(status, body) : body;
      }

      @Override
      public List<String> translateStream(byte[] chunk, boolean endOfStream) {
        throw new IllegalStateException("a local reply is never streamed");
      }
    };
  }

  /** Anthropic's error type for a status, as its API documents them (errors page). */
  static String errorType(int status) {
    return switch (status) {
      case 401 -> "authentication_error";
      case 403 -> "permission_error";
      case 404 -> "not_found_error";
      case 413 -> "request_too_large";
      case 429 -> "rate_limit_error";
      case 529 -> "overloaded_error";
      default -> status >= 500 ? "api_error" : "invalid_request_error";
    };
  }

  @Override
  public boolean endsStream(dev.weir.extproc.pipeline.ResponseChunk event) {
    String type = event.json() == null ? "" : event.json().path("type").asText();
    return type.equals("message_stop") || type.equals("error");
  }

  @Override
  public String streamCutEvent() {
    return "event: error\ndata: " + new String(clientError(502, ApiError.streamCut().toJson()), StandardCharsets.UTF_8)
        + "\n\n";
  }
}
