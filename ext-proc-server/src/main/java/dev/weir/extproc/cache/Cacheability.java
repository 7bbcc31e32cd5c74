package dev.weir.extproc.cache;

import com.fasterxml.jackson.databind.JsonNode;
import dev.weir.extproc.openai.Endpoint;
import dev.weir.extproc.openai.ParsedRequest;

/**
 * Whether a request is deterministic enough for its answer to be reused: one choice, and for
 * generation a temperature set at most the policy's maximum (an omitted temperature is the
 * provider's default, 1.0) or, where the policy allows it, a seed.
 */
public final class Cacheability {
  private Cacheability() {}

  /** Why {@code request} is not cacheable under {@code rules}, or null when it is. */
  public static String refusal(ParsedRequest request, CacheRules rules) {
    Endpoint e = request.endpoint();
    if (e != Endpoint.CHAT_COMPLETIONS && e != Endpoint.COMPLETIONS && e != Endpoint.EMBEDDINGS) {
      return "endpoint";
    }
    JsonNode body = request.body();
    JsonNode n = body.get("n");
    if (n != null && !n.isNull() && !(n.isIntegralNumber() && n.asLong() == 1)) {
      return "n";
    }
    if (e == Endpoint.EMBEDDINGS) {
      return null;
    }
    if (e == Endpoint.CHAT_COMPLETIONS && body.path("messages").size() > rules.maxMessages()) {
      return "max_messages";
    }
    JsonNode temperature = body.get("temperature");
    boolean lowTemperature = temperature != null && temperature.isNumber()
        && temperature.asDouble() <= rules.maxTemperature();
    JsonNode seed = body.get("seed");
    boolean seeded = rules.allowSeed() && seed != null && seed.isIntegralNumber();
    if (!lowTemperature && !seeded) {
      return "temperature";
    }
    return null;
  }
}
