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
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;

/**
 * Counts tokens with jtokkit the way OpenAI bills them, before the backend answers: the right
 * encoding per model family, chat framing (3 tokens per message, 1 per name, 3 to prime the
 * reply, as in OpenAI's cookbook), tool definitions and tool calls (their JSON, an estimate: the
 * provider renders them in a format it does not publish), and a configured estimate per image.
 * Thread-safe; encodings are loaded once, on first use.
 *
 * <p>The work per request is bounded. BPE merges within one pre-tokenized piece cost more than
 * linear time, and one repeated character is a single piece as long as the text (1 MB of "x"
 * took 2 s), so text is counted in chunks of at most {@link #CHUNK_CHARS} characters cut at
 * whitespace where possible; a cut inside a word may add a token, which only makes the
 * reservation a little larger. Past {@link #EXACT_CHARS} characters of text, the head and tail
 * are counted and the middle is estimated at their rate. Large prompts are counted on a small
 * pool of platform threads, where each consumer has at most one count running or queued: a
 * consumer sending many huge prompts waits for its own, and another consumer's count waits for at
 * most one of each (virtual threads waiting here park and free their carrier).
 */
public final class TokenCounter {
  static final int TOKENS_PER_MESSAGE = 3;
  static final int TOKENS_PER_NAME = 1;
  static final int REPLY_PRIMING = 3;
  /** OpenAI's fixed cost of a low-detail image. */
  static final int LOW_DETAIL_IMAGE = 85;

  /** Longest chunk handed to the BPE in one piece. */
  static final int CHUNK_CHARS = 256;
  /** Text up to this many characters is counted exactly (in chunks); longer text is sampled. */
  static final int EXACT_CHARS = 256 * 1024;
  /** Prompts with less text than this are counted on the caller's thread: it is quicker. */
  static final int OFFLOAD_CHARS = 32 * 1024;

  /** Shared by every config generation: counting threads are a process resource. */
  private static final ExecutorService POOL = Executors.newFixedThreadPool(
      Math.max(1, Runtime.getRuntime().availableProcessors() - 1), r -> {
        Thread t = new Thread(r, "weir-token-count");
        t.setDaemon(true);
        return t;
      });
  private static final Map<String, Semaphore> PER_CONSUMER = new ConcurrentHashMap<>();

  private final EncodingRegistry registry = Encodings.newLazyEncodingRegistry();
  private final Map<String, Encoding> byModel = new ConcurrentHashMap<>();
  private final Map<String, String> configured;
  private final int imageTokens;

  /**
   * @param configured model name → encoding name from the config (overrides the family default)
   * @param imageTokens tokens counted for an image at auto/high detail
   */
  public TokenCounter(Map<String, String> configured, int imageTokens) {
    this(configured, imageTokens, null);
  }

  /** With {@code encodings} standing in for jtokkit's registry (tests); null for the registry. */
  TokenCounter(Map<String, String> configured, int imageTokens, java.util.function.Function<String, Encoding> encodings) {
    this.configured = Map.copyOf(configured);
    this.imageTokens = imageTokens;
    this.encodings = encodings;
  }

  private final java.util.function.Function<String, Encoding> encodings;

  /** The encoding for a client-facing model name. */
  public Encoding encoding(String model) {
    if (encodings != null) {
      return encodings.apply(model);
    }
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
    return text == null || text.isEmpty() ? 0 : text(encoding(model), text);
  }

  /**
   * Prompt tokens of a request for {@code consumer}: large prompts are counted on the counting
   * pool, one at a time per consumer, so no consumer's prompts can hold up another's.
   */
  public int promptTokens(String consumer, ParsedRequest request) {
    if (request.body().toString().length() < OFFLOAD_CHARS) {
      return promptTokens(request);
    }
    Semaphore mine = PER_CONSUMER.computeIfAbsent(consumer, c -> new Semaphore(1, true));
    boolean acquired = false;
    try {
      mine.acquire();
      acquired = true;
      return POOL.submit(() -> promptTokens(request)).get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while counting tokens", e);
    } catch (ExecutionException e) {
      throw new IllegalStateException("token counting failed", e.getCause());
    } finally {
      if (acquired) {
        mine.release();
      }
    }
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

  /** Bounded-work count: exact in chunks up to EXACT_CHARS, the middle estimated beyond. */
  static int text(Encoding enc, String text) {
    int n = text.length();
    if (n <= EXACT_CHARS) {
      return chunked(enc, text, 0, n);
    }
    int half = EXACT_CHARS / 2;
    int head = chunked(enc, text, 0, half);
    int tail = chunked(enc, text, n - half, n);
    double perChar = (head + tail) / (double) EXACT_CHARS;
    return head + tail + (int) Math.ceil(perChar * (n - EXACT_CHARS));
  }

  private static int chunked(Encoding enc, String text, int from, int to) {
    if (to - from <= CHUNK_CHARS) {
      return from == to ? 0 : enc.countTokensOrdinary(text.substring(from, to));
    }
    int total = 0;
    int start = from;
    while (start < to) {
      int end = Math.min(to, start + CHUNK_CHARS);
      if (end < to) {
        // Cut before a whitespace run in the second half of the chunk, where the tokenizer's own
        // pre-splitting would cut too; else mid-word.
        for (int i = end; i > start + CHUNK_CHARS / 2; i--) {
          if (Character.isWhitespace(text.charAt(i)) && !Character.isWhitespace(text.charAt(i - 1))) {
            end = i;
            break;
          }
        }
        if (Character.isLowSurrogate(text.charAt(end))) {
          end--;
        }
      }
      total += enc.countTokensOrdinary(text.substring(start, end));
      start = end;
    }
    return total;
  }
}
