package dev.weir.config;

import dev.weir.config.v1.ContentScanner;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.config.v1.SafetyAction;
import dev.weir.config.v1.SafetyPattern;
import dev.weir.config.v1.SafetyPolicy;
import dev.weir.config.v1.ScannerCategory;
import dev.weir.config.v1.ScannerKind;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.BiConsumer;

/**
 * The loader's rules for top-level content scanners and the safety policies at each level: the
 * scanners they name exist and their patterns compile.
 */
final class ScannerRules {
  /** Azure AI Content Safety's text:analyze harm categories, spelt as its API and APIM spell them. */
  static final List<String> AZURE_CATEGORIES = List.of("Hate", "Sexual", "SelfHarm", "Violence");

  private ScannerRules() {}

  static void check(GatewayConfig config, BiConsumer<String, String> problem) {
    Set<String> names = new HashSet<>();
    for (int i = 0; i < config.getScannersCount(); i++) {
      ContentScanner s = config.getScanners(i);
      String path = "scanners[" + i + "]";
      if (s.getName().isBlank()) {
        problem.accept(path + ".name", "is required");
      } else if (!s.getName().matches("[a-z0-9][a-z0-9_-]{0,39}")) {
        // The name becomes a metric label and part of error messages.
        problem.accept(path + ".name", "must be 1-40 lowercase letters, digits, '-' or '_', found \"" + s.getName() + "\"");
      } else if (!names.add(s.getName())) {
        problem.accept(path + ".name", "duplicate scanner name \"" + s.getName() + "\"");
      }
      if (s.getKind() == ScannerKind.SCANNER_KIND_UNSPECIFIED) {
        problem.accept(path + ".kind", "is required (one of: " + YamlProtoReader.enumNames(ScannerKind.getDescriptor()) + ")");
      }
      checkUrl(path + ".url", s.getUrl(), problem);
      if (!s.hasCredential() && s.getKind() != ScannerKind.WEBHOOK && s.getKind() != ScannerKind.SCANNER_KIND_UNSPECIFIED) {
        problem.accept(path + ".credential", "is required ({ env: VAR }, { file: path }"
            + (s.getKind() == ScannerKind.AZURE_CONTENT_SAFETY ? " or { entra: ... })" : ")"));
      }
      if (s.getCredential().hasEntra() && s.getKind() != ScannerKind.AZURE_CONTENT_SAFETY) {
        problem.accept(path + ".credential.entra", "Entra ID tokens are only for azure-content-safety");
      }
      if (s.getAction() != SafetyAction.BLOCK && s.getAction() != SafetyAction.MONITOR) {
        problem.accept(path + ".action", "must be block or monitor (a scanner gives a verdict, not a span to mask)");
      }
      if (s.getTimeoutMillis() > 5_000) {
        // Envoy waits 10 s (envoy.yaml's ext_proc message_timeout) for the whole phase.
        problem.accept(path + ".timeoutMillis", "must be at most 5000 (Envoy gives the whole request-body phase 10 s)");
      }
      if (s.getWindowSize() > 0 && s.getWindowOverlap() >= s.getWindowSize()) {
        problem.accept(path + ".windowOverlap", "must be smaller than windowSize");
      } else if (s.getWindowSize() == 0 && s.getWindowOverlap() > 0) {
        problem.accept(path + ".windowOverlap", "needs a windowSize");
      }
      if (s.getKind() == ScannerKind.AZURE_CONTENT_SAFETY) {
        checkAzure(path, s, problem);
      } else {
        if (s.getBlocklistsCount() > 0) {
          problem.accept(path + ".blocklists", "is only used by kind azure-content-safety");
        }
        if (s.getShieldPrompt()) {
          problem.accept(path + ".shieldPrompt", "is only used by kind azure-content-safety");
        }
        for (int c = 0; c < s.getCategoriesCount(); c++) {
          if (s.getKind() == ScannerKind.WEBHOOK) {
            problem.accept(path + ".categories[" + c + "]", "a webhook gives its own verdict; categories are not used");
          } else if (s.getCategories(c).getThreshold() > 0) {
            problem.accept(path + ".categories[" + c + "].threshold", "is only used by kind azure-content-safety"
                + " (openai-moderation acts on the categories the answer flags)");
          }
        }
      }
    }
    checkRefs("policies.safety", config.getPolicies().getSafety(), names, problem);
    for (int i = 0; i < config.getModelsCount(); i++) {
      checkRefs("models[" + i + "].policies.safety", config.getModels(i).getPolicies().getSafety(), names, problem);
    }
    for (int i = 0; i < config.getConsumersCount(); i++) {
      checkRefs("consumers[" + i + "].safety", config.getConsumers(i).getSafety(), names, problem);
    }
  }

  private static void checkAzure(String path, ContentScanner s, BiConsumer<String, String> problem) {
    if (s.getCategoriesCount() == 0 && s.getBlocklistsCount() == 0 && !s.getShieldPrompt()) {
      problem.accept(path, "an azure-content-safety scanner needs categories, blocklists or shieldPrompt: true");
    }
    boolean eight = s.getOutputType().equals("EightSeverityLevels");
    if (!eight && !s.getOutputType().equals("FourSeverityLevels")) {
      problem.accept(path + ".outputType", "must be FourSeverityLevels or EightSeverityLevels, found \"" + s.getOutputType() + "\"");
    }
    Set<String> seen = new HashSet<>();
    for (int c = 0; c < s.getCategoriesCount(); c++) {
      ScannerCategory cat = s.getCategories(c);
      String cpath = path + ".categories[" + c + "]";
      if (!AZURE_CATEGORIES.contains(cat.getName())) {
        problem.accept(cpath + ".name", "must be one of " + String.join(", ", AZURE_CATEGORIES) + ", found \"" + cat.getName() + "\"");
      } else if (!seen.add(cat.getName())) {
        problem.accept(cpath + ".name", "category " + cat.getName() + " is listed twice");
      }
      if (cat.getThreshold() < 1 || cat.getThreshold() > 7) {
        // Every text has severity 0 or more, so 0 would refuse every prompt.
        problem.accept(cpath + ".threshold", "must be 1 to 7 (the severity at which it blocks), found " + cat.getThreshold());
      }
    }
    for (int b = 0; b < s.getBlocklistsCount(); b++) {
      if (!s.getBlocklists(b).matches("[A-Za-z0-9_.~-]{1,64}")) {
        problem.accept(path + ".blocklists[" + b + "]", "is not a blocklist name (letters, digits, '_', '-', '.', '~'; at most 64)");
      }
    }
  }

  private static void checkUrl(String path, String url, BiConsumer<String, String> problem) {
    if (url.isEmpty()) {
      problem.accept(path, "is required");
      return;
    }
    try {
      URI uri = new URI(url);
      boolean loopback = uri.getHost() != null
          && (uri.getHost().equals("localhost") || uri.getHost().equals("127.0.0.1") || uri.getHost().equals("[::1]"));
      if (uri.getHost() == null || !("https".equals(uri.getScheme()) || "http".equals(uri.getScheme()) && loopback)) {
        // Prompts and a credential travel on this connection.
        problem.accept(path, "must be an https:// URL (http:// only to a loopback host), found \"" + url + "\"");
      } else if (uri.getRawFragment() != null) {
        problem.accept(path, "must not have a fragment");
      }
    } catch (URISyntaxException e) {
      problem.accept(path, "not a URL: " + e.getMessage());
    }
  }

  private static void checkRefs(String path, SafetyPolicy policy, Set<String> names, BiConsumer<String, String> problem) {
    checkPatterns(path, policy, problem);
    for (int i = 0; i < policy.getScannersCount(); i++) {
      if (!names.contains(policy.getScanners(i))) {
        problem.accept(path + ".scanners[" + i + "]", "no scanner named \"" + policy.getScanners(i) + "\"");
      }
    }
  }

  /**
   * Compiles each pattern with RE2/J, the engine the safety stage runs it with, so a bad regex
   * fails the load (and a reload keeps the config in force) instead of the first prompt it meets.
   */
  private static void checkPatterns(String path, SafetyPolicy policy, BiConsumer<String, String> problem) {
    for (int p = 0; p < policy.getPatternsCount(); p++) {
      SafetyPattern pattern = policy.getPatterns(p);
      String ppath = path + ".patterns[" + p + "]";
      if (pattern.getName().isBlank()) {
        problem.accept(ppath + ".name", "is required (it names the category in errors, metrics and placeholders)");
      }
      if (pattern.getRegex().isEmpty()) {
        problem.accept(ppath + ".regex", "is required");
        continue;
      }
      try {
        com.google.re2j.Pattern.compile(pattern.getRegex());
      } catch (com.google.re2j.PatternSyntaxException e) {
        problem.accept(ppath + ".regex", "pattern " + p + (pattern.getName().isBlank() ? "" : " (\"" + pattern.getName() + "\")")
            + " of " + path + " is not a valid RE2 regex: " + e.getDescription() + " in \"" + pattern.getRegex()
            + "\" (RE2 has no backreferences or lookaround)");
      }
    }
  }
}
