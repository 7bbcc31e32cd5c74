package dev.weir.extproc.safety.scanners;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weir.config.v1.ContentScanner;
import dev.weir.config.v1.ScannerCategory;
import dev.weir.extproc.openai.Json;
import io.micrometer.core.instrument.MeterRegistry;
import java.net.http.HttpClient;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * OpenAI's {@code POST /v1/moderations} (or a compatible service): the text is flagged when the
 * answer marks a category true, any category or only the configured ones.
 */
final class OpenAiModeration extends ExternalScanner {
  static final String PATH = "/v1/moderations";

  OpenAiModeration(ContentScanner config, HttpClient http, Auth auth, MeterRegistry registry, LongSupplier nanoTime) {
    super(config, http, auth, registry, nanoTime);
  }

  @Override
  List<Call> calls(ScanRequest request) {
    if (request.text().isBlank()) {
      return List.of();
    }
    ObjectNode body = Json.MAPPER.createObjectNode().put("model", config.getModel()).put("input", request.text());
    return List.of(new Call(PATH, body.toString()));
  }

  @Override
  List<String> flagged(Call call, JsonNode answer) throws BadAnswer {
    JsonNode results = answer.get("results");
    if (results == null || !results.isArray() || results.isEmpty()) {
      throw new BadAnswer("answer has no results");
    }
    List<String> out = new ArrayList<>();
    List<String> wanted = config.getCategoriesList().stream().map(ScannerCategory::getName).toList();
    for (JsonNode r : results) {
      if (!r.path("categories").isObject()) {
        throw new BadAnswer("a result has no categories");
      }
      for (Iterator<Map.Entry<String, JsonNode>> it = r.get("categories").fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        // Category keys come from the service; the configured list (or the flagged ones when none is
        // configured) bounds what reaches errors and audit lines.
        if (e.getValue().asBoolean(false) && (wanted.isEmpty() || wanted.contains(e.getKey()))
            && !out.contains(e.getKey()) && e.getKey().length() <= 40) {
          out.add(e.getKey());
        }
      }
      if (wanted.isEmpty() && out.isEmpty() && r.path("flagged").asBoolean(false)) {
        out.add("flagged");
      }
    }
    return out;
  }
}
