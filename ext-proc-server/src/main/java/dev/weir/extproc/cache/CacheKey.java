package dev.weir.extproc.cache;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weir.extproc.openai.ParsedRequest;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;

/**
 * Where a request's answer is cached. The partition is an exact hash of everything that may change
 * the answer except the last turn: who shares it ({@code varyBy}), the endpoint, the resolved
 * model, the system prompt, every earlier turn and every parameter. The key is a hash of the last
 * turn within it. Only the semantic tier compares last turns loosely, and only within one
 * partition, so a hit across partitions is impossible by construction.
 *
 * @param lastTurnText the last user turn's text, for the semantic tier; null when it has none
 */
public record CacheKey(String partition, String key, String lastTurnText) {
  /** Fields that change how an answer is delivered or billed, not what it says. */
  private static final Set<String> DELIVERY_ONLY = Set.of("stream", "stream_options", "user", "metadata", "store");

  /**
   * The key of {@code request}, whose model the router resolved to {@code model}; {@code sharers}
   * are the values of the policy's {@code varyBy}, in order.
   */
  public static CacheKey of(ParsedRequest request, String model, List<String> sharers, boolean ignoreSystemMessages) {
    ObjectNode rest = request.body().deepCopy();
    DELIVERY_ONLY.forEach(rest::remove);
    rest.put("model", model);
    JsonNode last;
    String text = null;
    switch (request.endpoint()) {
      case CHAT_COMPLETIONS -> {
        ArrayNode messages = (ArrayNode) rest.get("messages");
        last = messages.remove(messages.size() - 1);
        if (ignoreSystemMessages) {
          ArrayNode kept = messages.arrayNode();
          for (JsonNode m : messages) {
            String role = m.path("role").asText();
            if (!role.equals("system") && !role.equals("developer")) {
              kept.add(m);
            }
          }
          rest.set("messages", kept);
        }
        if (last.path("role").asText().equals("user")) {
          text = textOf(last.path("content"));
        }
      }
      case COMPLETIONS -> last = rest.remove("prompt");
      case EMBEDDINGS -> last = rest.remove("input");
      default -> throw new IllegalArgumentException(request.endpoint() + " is not cached");
    }
    StringBuilder partition = new StringBuilder(request.endpoint().name()).append('\n');
    sharers.forEach(s -> partition.append(s.length()).append(':').append(s).append('\n'));
    canonical(rest, partition);
    return new CacheKey(sha256(partition.toString()), sha256(canonical(last, new StringBuilder()).toString()), text);
  }

  /** The text of a message's content: a string, or the text parts of an array; null if it has none. */
  static String textOf(JsonNode content) {
    if (content.isTextual()) {
      return content.asText();
    }
    if (content.isArray()) {
      List<String> parts = new ArrayList<>();
      for (JsonNode part : content) {
        if (!part.path("type").asText().equals("text")) {
          return null; // images and audio are not compared by their text alone
        }
        parts.add(part.path("text").asText());
      }
      return parts.isEmpty() ? null : String.join("\n", parts);
    }
    return null;
  }

  /**
   * JSON with object keys sorted and numbers in one spelling ({@code 0}, {@code 0.0} and {@code 0e0}
   * are one temperature), so equal requests hash equally however a client wrote them.
   */
  static StringBuilder canonical(JsonNode node, StringBuilder out) {
    if (node == null || node.isNull() || node.isMissingNode()) {
      return out.append("null");
    }
    if (node.isObject()) {
      List<String> names = new ArrayList<>();
      node.fieldNames().forEachRemaining(names::add);
      names.sort(null);
      out.append('{');
      for (int i = 0; i < names.size(); i++) {
        if (i > 0) {
          out.append(',');
        }
        out.append(quote(names.get(i))).append(':');
        canonical(node.get(names.get(i)), out);
      }
      return out.append('}');
    }
    if (node.isArray()) {
      out.append('[');
      for (int i = 0; i < node.size(); i++) {
        if (i > 0) {
          out.append(',');
        }
        canonical(node.get(i), out);
      }
      return out.append(']');
    }
    if (node.isNumber()) {
      BigDecimal d = node.decimalValue().stripTrailingZeros();
      return out.append(d.signum() == 0 ? "0" : d.toPlainString());
    }
    if (node.isTextual()) {
      return out.append(quote(node.asText()));
    }
    return out.append(node.toString());
  }

  private static String quote(String s) {
    return com.fasterxml.jackson.databind.node.TextNode.valueOf(s).toString();
  }

  static String sha256(String s) {
    try {
      MessageDigest d = MessageDigest.getInstance("SHA-256");
      return HexFormat.of().formatHex(d.digest(s.getBytes(StandardCharsets.UTF_8)), 0, 16);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every JVM has SHA-256", e);
    }
  }
}
