package dev.weir.extproc.safety.scanners;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weir.config.v1.ContentScanner;
import dev.weir.config.v1.ScannerCategory;
import dev.weir.extproc.openai.Json;
import io.micrometer.core.instrument.MeterRegistry;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongSupplier;

/**
 * Azure AI Content Safety: {@code text:analyze} (harm categories at per-category severity
 * thresholds, and named blocklists) and, on prompts when {@code shieldPrompt} is on,
 * {@code text:shieldPrompt} (the user's turns, and tool results as documents), with the settings
 * API Management's {@code llm-content-safety} policy takes. The service reads at most 10,000
 * characters per call, so longer texts are sent as several calls, in parallel.
 */
final class AzureContentSafety extends ExternalScanner {
  /** Azure AI Content Safety's per-call text limit (text:analyze and text:shieldPrompt alike). */
  static final int MAX_CHARS = 10_000;
  static final String ANALYZE = "/contentsafety/text:analyze";
  static final String SHIELD = "/contentsafety/text:shieldPrompt";

  private final String query;

  AzureContentSafety(ContentScanner config, HttpClient http, Auth auth, MeterRegistry registry, LongSupplier nanoTime) {
    super(config, http, auth, registry, nanoTime);
    this.query = "?api-version=" + URLEncoder.encode(config.getApiVersion(), StandardCharsets.UTF_8);
  }

  @Override
  List<Call> calls(ScanRequest request) {
    List<Call> calls = new ArrayList<>();
    if (config.getCategoriesCount() > 0 || config.getBlocklistsCount() > 0) {
      for (String window : windows(request.text(), MAX_CHARS, 0)) {
        if (window.isBlank()) {
          continue;
        }
        ObjectNode body = Json.MAPPER.createObjectNode().put("text", window);
        if (config.getCategoriesCount() > 0) {
          ArrayNode categories = body.putArray("categories");
          config.getCategoriesList().forEach(c -> categories.add(c.getName()));
        }
        if (config.getBlocklistsCount() > 0) {
          ArrayNode lists = body.putArray("blocklistNames");
          config.getBlocklistsList().forEach(lists::add);
          body.put("haltOnBlocklistHit", false);
        }
        body.put("outputType", config.getOutputType());
        calls.add(new Call(ANALYZE + query, body.toString()));
      }
    }
    // Prompt shields look for attacks in what users and documents say to the model; APIM runs it on
    // requests only, and so do we.
    if (config.getShieldPrompt() && request.isPrompt()) {
      for (String window : windows(request.userPrompt(), MAX_CHARS, 0)) {
        if (!window.isBlank()) {
          ObjectNode body = Json.MAPPER.createObjectNode().put("userPrompt", window);
          body.putArray("documents");
          calls.add(new Call(SHIELD + query, body.toString()));
        }
      }
      for (String document : request.documents()) {
        for (String window : windows(document, MAX_CHARS, 0)) {
          if (!window.isBlank()) {
            ObjectNode body = Json.MAPPER.createObjectNode().put("userPrompt", "");
            body.putArray("documents").add(window);
            calls.add(new Call(SHIELD + query, body.toString()));
          }
        }
      }
    }
    return calls;
  }

  @Override
  List<String> flagged(Call call, JsonNode answer) throws BadAnswer {
    List<String> out = new ArrayList<>();
    if (call.path().startsWith(SHIELD)) {
      JsonNode user = answer.path("userPromptAnalysis").path("attackDetected");
      if (user.isBoolean() && user.booleanValue()) {
        out.add("UserPromptAttack");
      }
      JsonNode docs = answer.path("documentsAnalysis");
      if (!user.isBoolean() && !docs.isArray()) {
        throw new BadAnswer("answer has no userPromptAnalysis or documentsAnalysis");
      }
      for (JsonNode d : docs) {
        if (d.path("attackDetected").asBoolean(false)) {
          out.add("DocumentAttack");
          break;
        }
      }
      return out;
    }
    JsonNode analysis = answer.get("categoriesAnalysis");
    if (analysis == null || !analysis.isArray()) {
      throw new BadAnswer("answer has no categoriesAnalysis");
    }
    for (ScannerCategory c : config.getCategoriesList()) {
      for (JsonNode a : analysis) {
        if (c.getName().equals(a.path("category").asText()) && a.path("severity").asInt(0) >= c.getThreshold()) {
          out.add(c.getName());
        }
      }
    }
    for (JsonNode m : answer.path("blocklistsMatch")) {
      String list = m.path("blocklistName").asText("");
      // Only names the operator configured reach errors and audit lines.
      if (config.getBlocklistsList().contains(list) && !out.contains("Blocklist:" + list)) {
        out.add("Blocklist:" + list);
      }
    }
    return out;
  }
}
