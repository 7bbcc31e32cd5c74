package dev.weir.extproc.dialects;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weir.extproc.openai.ApiError;
import dev.weir.extproc.openai.Endpoint;
import dev.weir.extproc.openai.ParsedRequest;
import dev.weir.extproc.openai.Usage;
import dev.weir.extproc.tokens.TokenCounter;

/**
 * OpenAI's chat completions, text completions and embeddings: {@code messages}, {@code prompt} or
 * {@code input} required; {@code max_completion_tokens} (else {@code max_tokens}) times {@code n}
 * reserved; usage in {@code usage.prompt_tokens}/{@code completion_tokens}, and in a stream's last
 * chunk, which the gateway asks for and hides from clients that did not.
 */
final class OpenAiDialect implements Dialect {
  /** The most choices reserved for, whatever {@code n} says (OpenAI caps it at 128). */
  static final long MAX_CHOICES = 128;

  private final Endpoint endpoint;

  OpenAiDialect(Endpoint endpoint) {
    this.endpoint = endpoint;
  }

  @Override
  public ApiError validate(ObjectNode body) {
    return switch (endpoint) {
      case CHAT_COMPLETIONS -> Requirements.nonEmptyMessages(body, "messages", null);
      case COMPLETIONS -> Requirements.present(body, "prompt");
      case EMBEDDINGS -> input(body);
      default -> null;
    };
  }

  private static ApiError input(ObjectNode body) {
    ApiError missing = Requirements.present(body, "input");
    if (missing != null) {
      return missing;
    }
    JsonNode input = body.get("input");
    if ((input.isTextual() && input.asText().isEmpty()) || (input.isArray() && input.isEmpty())) {
      return ApiError.badRequest("empty_input", "input must not be empty");
    }
    return null;
  }

  @Override
  public long promptTokens(TokenCounter tokens, ParsedRequest request) {
    return tokens.promptTokens(request);
  }

  @Override
  public long maxOutputTokens(JsonNode body) {
    if (endpoint == Endpoint.EMBEDDINGS) {
      return -1;
    }
    return Math.max(0, body.path("max_completion_tokens").asLong(body.path("max_tokens").asLong(0)));
  }

  @Override
  public long choices(JsonNode body) {
    return Math.max(1, Math.min(body.path("n").asLong(1), MAX_CHOICES));
  }

  @Override
  public Usage usage(JsonNode answer) {
    return Usage.from(answer.get("usage"));
  }

  @Override
  public boolean asksForStreamUsage() {
    return endpoint == Endpoint.CHAT_COMPLETIONS || endpoint == Endpoint.COMPLETIONS;
  }

  @Override
  public StreamReader streamReader(ParsedRequest request) {
    boolean clientAskedForUsage = request != null
        && request.body().path("stream_options").path("include_usage").asBoolean(false);
    return (event, text) -> {
      for (JsonNode choice : event.path("choices")) {
        text.append(choice.path("delta").path("content").asText(""));
        text.append(choice.path("text").asText(""));
        for (JsonNode call : choice.path("delta").path("tool_calls")) {
          text.append(call.path("function").path("arguments").asText(""));
        }
      }
      Usage usage = Usage.from(event.get("usage"));
      if (usage == null) {
        return Read.NOTHING;
      }
      // The gateway asked for (or the backend's adapter made) a usage chunk the client did not want.
      return new Read(usage, event.path("choices").isEmpty() && !clientAskedForUsage);
    };
  }

  @Override
  public boolean endsStream(dev.weir.extproc.pipeline.ResponseChunk event) {
    return event.isDone() || event.json() != null && event.json().has("error");
  }

  @Override
  public String streamCutEvent() {
    return "data: " + new String(ApiError.streamCut().toJson(), java.nio.charset.StandardCharsets.UTF_8) + "\n\n";
  }
}
