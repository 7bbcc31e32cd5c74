package dev.weir.extproc.dialects;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weir.extproc.openai.ApiError;
import dev.weir.extproc.openai.ParsedRequest;
import dev.weir.extproc.openai.Usage;
import dev.weir.extproc.tokens.TokenCounter;
import java.util.ArrayList;
import java.util.List;

/**
 * OpenAI's Responses API ({@code POST /v1/responses}): the prompt estimated from
 * {@code instructions} and {@code input} (a string, or a list of message, function-call and
 * function-output items) and {@code tools}; {@code max_output_tokens} reserved; usage read from
 * {@code usage.input_tokens}/{@code output_tokens} with their cached and reasoning details, in a
 * {@code response} or in the stream's closing {@code response.completed} (or
 * {@code response.incomplete}, {@code response.failed}) event.
 */
final class ResponsesDialect implements Dialect {
  static final int TOKENS_PER_ITEM = 3;
  static final int REPLY_PRIMING = 3;

  @Override
  public ApiError validate(ObjectNode body) {
    JsonNode input = body.get("input");
    // input may be absent: a request can continue from previous_response_id or use a stored prompt.
    if (input != null && !input.isNull() && !input.isTextual() && !input.isArray()) {
      return ApiError.badRequest("invalid_input", "input must be a string or an array of input items");
    }
    return Requirements.positiveIntegerIfPresent(body, "max_output_tokens");
  }

  @Override
  public long promptTokens(TokenCounter tokens, ParsedRequest request) {
    JsonNode body = request.body();
    List<String> pieces = new ArrayList<>();
    long fixed = REPLY_PRIMING;
    pieces.add(body.path("instructions").asText(""));
    JsonNode input = body.get("input");
    if (input != null && input.isTextual()) {
      fixed += TOKENS_PER_ITEM;
      pieces.add(input.asText());
    } else if (input != null && input.isArray()) {
      for (JsonNode item : input) {
        fixed += TOKENS_PER_ITEM + item(tokens, item, pieces);
      }
    }
    if (body.has("tools")) {
      pieces.add(body.get("tools").toString());
    }
    JsonNode format = body.path("text").path("format");
    if ("json_schema".equals(format.path("type").asText())) {
      pieces.add(format.path("schema").toString());
    }
    return fixed + tokens.countAll(request.model(), pieces);
  }

  /** Adds an input item's text to {@code pieces}; returns the tokens of its images and files. */
  private static long item(TokenCounter tokens, JsonNode item, List<String> pieces) {
    // A message item may omit its type ({"role": "user", "content": ...}).
    String type = item.path("type").asText(item.has("role") ? "message" : "");
    switch (type) {
      case "message" -> {
        pieces.add(item.path("role").asText(""));
        JsonNode content = item.get("content");
        if (content != null && content.isTextual()) {
          pieces.add(content.asText());
          return 0;
        }
        long fixed = 0;
        for (JsonNode part : content == null ? List.<JsonNode>of() : content) {
          switch (part.path("type").asText("")) {
            case "input_text", "output_text" -> pieces.add(part.path("text").asText(""));
            case "refusal" -> pieces.add(part.path("refusal").asText(""));
            case "input_image" -> fixed += tokens.imageTokens("low".equals(part.path("detail").asText("auto")));
            // A file's cost depends on its pages, unknown here: an image's estimate, reconciled later.
            case "input_file" -> fixed += tokens.imageTokens(false);
            default -> pieces.add(part.toString());
          }
        }
        return fixed;
      }
      case "function_call", "custom_tool_call" -> {
        pieces.add(item.path("name").asText(""));
        pieces.add(item.path("arguments").asText(item.path("input").asText("")));
      }
      case "function_call_output", "custom_tool_call_output" -> {
        JsonNode output = item.get("output");
        pieces.add(output == null ? "" : output.isTextual() ? output.asText() : output.toString());
      }
      case "reasoning" -> {
        for (JsonNode summary : item.path("summary")) {
          pieces.add(summary.path("text").asText(""));
        }
      }
      case "item_reference" -> { } // stored at the backend: its size is unknown here
      default -> pieces.add(item.toString());
    }
    return 0;
  }

  @Override
  public long maxOutputTokens(JsonNode body) {
    return Math.max(0, body.path("max_output_tokens").asLong(0));
  }

  @Override
  public Usage usage(JsonNode answer) {
    return usageOf(answer.get("usage"));
  }

  static Usage usageOf(JsonNode usage) {
    if (usage == null || !usage.isObject()) {
      return null;
    }
    long input = usage.path("input_tokens").asLong(0);
    long output = usage.path("output_tokens").asLong(0);
    long total = usage.has("total_tokens") ? usage.path("total_tokens").asLong() : input + output;
    return new Usage(input, output, total, usage.path("output_tokens_details").path("reasoning_tokens").asLong(-1),
        usage.path("input_tokens_details").path("cached_tokens").asLong(-1));
  }

  @Override
  public StreamReader streamReader(ParsedRequest request) {
    return (event, text) -> {
      String type = event.path("type").asText("");
      switch (type) {
        case "response.output_text.delta", "response.refusal.delta", "response.function_call_arguments.delta",
            "response.custom_tool_call_input.delta", "response.reasoning_summary_text.delta" ->
            text.append(event.path("delta").asText(""));
        case "response.completed", "response.incomplete", "response.failed" -> {
          Usage usage = usageOf(event.path("response").get("usage"));
          return usage == null ? Read.NOTHING : new Read(usage, false);
        }
        default -> { }
      }
      return Read.NOTHING;
    };
  }

  @Override
  public boolean endsStream(dev.weir.extproc.pipeline.ResponseChunk event) {
    String type = event.json() == null ? "" : event.json().path("type").asText();
    return type.equals("response.completed") || type.equals("response.incomplete")
        || type.equals("response.failed") || type.equals("error");
  }

  @Override
  public String streamCutEvent() {
    ApiError cut = ApiError.streamCut();
    com.fasterxml.jackson.databind.node.ObjectNode e = dev.weir.extproc.openai.Json.MAPPER.createObjectNode();
    e.put("type", "error");
    e.put("code", cut.code());
    e.put("message", cut.message());
    e.putNull("param");
    return "event: error\ndata: " + e + "\n\n";
  }
}
