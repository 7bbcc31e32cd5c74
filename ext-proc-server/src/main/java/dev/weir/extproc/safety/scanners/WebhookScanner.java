package dev.weir.extproc.safety.scanners;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weir.config.v1.ContentScanner;
import dev.weir.extproc.openai.Json;
import io.micrometer.core.instrument.MeterRegistry;
import java.net.http.HttpClient;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongSupplier;
import java.util.regex.Pattern;

/**
 * Your own scanner behind a JSON POST (the contract is in docs/safety.md): Weir sends
 * {@code direction, model, consumer, text, userPrompt, documents} and reads back
 * {@code {"flagged": bool, "categories": [..]}}; any other answer is a failed call.
 */
final class WebhookScanner extends ExternalScanner {
  /** Category names a webhook may report; others are left out of errors and audit lines. */
  private static final Pattern CATEGORY = Pattern.compile("[A-Za-z0-9_./:-]{1,40}");
  private static final int MAX_CATEGORIES = 8;

  WebhookScanner(ContentScanner config, HttpClient http, Auth auth, MeterRegistry registry, LongSupplier nanoTime) {
    super(config, http, auth, registry, nanoTime);
  }

  @Override
  List<Call> calls(ScanRequest request) {
    if (request.text().isBlank()) {
      return List.of();
    }
    ObjectNode body = Json.MAPPER.createObjectNode().put("direction", request.direction())
        .put("model", request.model()).put("consumer", request.consumer()).put("text", request.text());
    if (request.isPrompt()) {
      body.put("userPrompt", request.userPrompt());
      request.documents().forEach(body.putArray("documents")::add);
    }
    return List.of(new Call("", body.toString()));
  }

  @Override
  List<String> flagged(Call call, JsonNode answer) throws BadAnswer {
    JsonNode flagged = answer.get("flagged");
    if (flagged == null || !flagged.isBoolean()) {
      throw new BadAnswer("answer has no boolean \"flagged\"");
    }
    if (!flagged.booleanValue()) {
      return List.of();
    }
    List<String> out = new ArrayList<>();
    for (JsonNode c : answer.path("categories")) {
      if (c.isTextual() && CATEGORY.matcher(c.asText()).matches() && out.size() < MAX_CATEGORIES) {
        out.add(c.asText());
      }
    }
    return out.isEmpty() ? List.of("flagged") : out;
  }
}
