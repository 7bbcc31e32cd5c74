package dev.weir.extproc.tokens;

import com.fasterxml.jackson.databind.JsonNode;
import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingRegistry;
import com.knuddels.jtokkit.api.EncodingType;
import dev.weir.extproc.openai.ParsedRequest;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Counts tokens with jtokkit the way OpenAI bills them, before the backend answers: the right
 * encoding per model family, chat framing (3 tokens per message, 1 per name, 3 to prime the
 * reply, as in OpenAI's cookbook), tool definitions and tool calls (their JSON, an estimate: the
 * provider renders them in a format it does not publish), and a configured estimate per image.
 * Thread-safe; encodings are loaded once, on first use.
 */
public final class TokenCounter {
  static final int TOKENS_PER_MESSAGE = 3;
  static final int TOKENS_PER_NAME = 1;
  static final int REPLY_PRIMING = 3;
  /** OpenAI's fixed cost of a low-detail image. */
  static final int LOW_DETAIL_IMAGE = 85;

  private final EncodingRegistry registry = Encodings.newLazyEncodingRegistry();
  private final Map<String, Encoding> byModel = new ConcurrentHashMap<>();
  private final Map<String, String> configured;
  private final int imageTokens;

  /**
   * @param configured model name → encoding name from the config (overrides the family default)
   * @param imageTokens tokens counted for an image at auto/high detail
   */
  public TokenCounter(Map<String, String> configured, int imageTokens) {
    this.configured = Map.copyOf(configured);
    this.imageTokens = imageTokens;
  }

  /** The encoding for a client-facing model name. */
  public Encoding encoding(String model) {
    return byModel.computeIfAbsent(model, m -> registry.getEncoding(typeFor(m, configured.get(m))));
  }

  static EncodingType typeFor(String model, String configuredName) {
    if (configuredName != null && !configuredName.isEmpty()) {
      return EncodingType.fromName(configuredName).orElseThrow(
          () -> new IllegalArgumentException("unknown encoding " + configuredName));
    }
    String m = model.toLowerCase(Locale.ROOT);
    if (m.startsWith("gpt-4o") || m.startsWith("chatgpt-4o") || m.startsWith("gpt-4.1") || m.startsWith("gpt-4.5")
        || m.startsWith("gpt-5") || m.matches("o[1-9].*") || m.startsWith("gpt-oss")) {
      return EncodingType.O200K_BASE;
    }
    return EncodingType.CL100K_BASE; // gpt-4, gpt-3.5, text-embedding-*, and the estimate for others
  }

  public int count(String model, String text) {
    return text == null || text.isEmpty() ? 0 : encoding(model).countTokensOrdinary(text);
  }

  /** Prompt tokens of a request, as the backend will count them (an estimate where noted). */
  public int promptTokens(ParsedRequest request) {
    Encoding enc = encoding(request.model());
    JsonNode body = request.body();
    return switch (request.endpoint()) {
      case CHAT_COMPLETIONS -> chat(enc, body);
      case COMPLETIONS -> textOrTokens(enc, body.get("prompt"));
      case EMBEDDINGS -> textOrTokens(enc, body.get("input"));
      case MODELS -> 0;
      // Other client dialects (Anthropic Messages, Responses) estimate their own request shapes.
      default -> (int) dev.weir.extproc.dialects.Dialects.of(request.endpoint()).promptTokens(this, request);
    };
  }

  /** The tokens of several pieces of text, each counted as {@link #count} does (a dialect's prompt). */
  public int countAll(String model, java.util.List<String> pieces) {
    int total = 0;
    for (String piece : pieces) {
      total += count(model, piece);
    }
    return total;
  }

  /** Tokens counted for one image: OpenAI's fixed low-detail cost, else the configured estimate. */
  public int imageTokens(boolean lowDetail) {
    return lowDetail ? LOW_DETAIL_IMAGE : imageTokens;
  }

  private int chat(Encoding enc, JsonNode body) {
    int total = REPLY_PRIMING;
    for (JsonNode message : body.path("messages")) {
      total += TOKENS_PER_MESSAGE;
      total += text(enc, message.path("role").asText(""));
      if (message.hasNonNull("name")) {
        total += TOKENS_PER_NAME + text(enc, message.get("name").asText());
      }
      total += content(enc, message.get("content"));
      if (message.has("tool_calls")) {
        for (JsonNode call : message.get("tool_calls")) {
          total += text(enc, call.path("function").path("name").asText(""));
          total += text(enc, call.path("function").path("arguments").asText(""));
        }
      }
      if (message.has("function_call")) {
        total += text(enc, message.get("function_call").toString());
      }
    }
    if (body.has("tools")) {
      total += text(enc, body.get("tools").toString());
    }
    if (body.has("functions")) {
      total += text(enc, body.get("functions").toString());
    }
    if (body.has("response_format") && body.get("response_format").has("json_schema")) {
      total += text(enc, body.get("response_format").get("json_schema").toString());
    }
    return total;
  }

  private int content(Encoding enc, JsonNode content) {
    if (content == null || content.isNull()) {
      return 0;
    }
    if (content.isTextual()) {
      return text(enc, content.asText());
    }
    int total = 0;
    for (JsonNode part : content) {
      switch (part.path("type").asText("")) {
        case "text" -> total += text(enc, part.path("text").asText(""));
        case "image_url", "input_image" -> total +=
            "low".equals(part.path("image_url").path("detail").asText("auto")) ? LOW_DETAIL_IMAGE : imageTokens;
        case "input_audio" -> total += text(enc, part.path("input_audio").path("data").asText("")) / 4;
        default -> total += text(enc, part.toString());
      }
    }
    return total;
  }

  /** A string, an array of strings, a token array, or an array of token arrays. */
  private static int textOrTokens(Encoding enc, JsonNode input) {
    if (input == null || input.isNull()) {
      return 0;
    }
    if (input.isTextual()) {
      return text(enc, input.asText());
    }
    int total = 0;
    for (JsonNode item : input) {
      if (item.isTextual()) {
        total += text(enc, item.asText());
      } else if (item.isNumber()) {
        total += 1; // already a token id
      } else if (item.isArray()) {
        total += item.size();
      }
    }
    return total;
  }

  private static int text(Encoding enc, String text) {
    return text.isEmpty() ? 0 : enc.countTokensOrdinary(text);
  }
}
