package dev.weir.config;

import dev.weir.config.v1.ContentLogging;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.config.v1.Observability;
import dev.weir.config.v1.OtlpExport;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.function.BiConsumer;

/** The loader's rules for the observability block and the content-logging policies. */
final class ObservabilityRules {
  /** A ring of this many events is a few megabytes; more is a mistake, not a wish. */
  static final int MAX_RECENT_EVENTS = 100_000;

  private ObservabilityRules() {}

  static void check(GatewayConfig config, BiConsumer<String, String> problem) {
    Observability o = config.getObservability();
    var events = o.getEvents();
    if (events.hasFile()) {
      if (events.getFile().getPath().isBlank()) {
        problem.accept("observability.events.file.path", "is required (where the JSON lines go)");
      }
      if (events.getFile().getMaxFiles() < 1) {
        problem.accept("observability.events.file.maxFiles", "must be at least 1");
      }
      if (events.getFile().getMaxBytes() < 4096) {
        problem.accept("observability.events.file.maxBytes", "must be at least 4096");
      }
    }
    if (events.hasOtlp()) {
      otlp("observability.events.otlp", events.getOtlp(), problem);
    }
    if (events.getQueueSize() < 1 || events.getQueueSize() > 1_000_000) {
      problem.accept("observability.events.queueSize", "must be between 1 and 1000000");
    }
    if (events.getRecentEvents() > MAX_RECENT_EVENTS) {
      problem.accept("observability.events.recentEvents", "must be at most " + MAX_RECENT_EVENTS);
    }
    if (o.hasTraces()) {
      if (!o.getTraces().hasOtlp()) {
        problem.accept("observability.traces.otlp", "is required: the OTLP/HTTP receiver spans are sent to");
      } else {
        otlp("observability.traces.otlp", o.getTraces().getOtlp(), problem);
      }
      ratio("observability.traces.sampleRatio", o.getTraces().getSampleRatio(), problem);
    }
    if (o.getUsage().getRetentionDays() < 1 || o.getUsage().getRetentionDays() > 3660) {
      problem.accept("observability.usage.retentionDays", "must be between 1 and 3660");
    }
    if (config.getPolicies().hasContentLogging()) {
      logging("policies.contentLogging", config.getPolicies().getContentLogging(), problem);
    }
    for (int i = 0; i < config.getModelsCount(); i++) {
      if (config.getModels(i).getPolicies().hasContentLogging()) {
        logging("models[" + i + "].policies.contentLogging", config.getModels(i).getPolicies().getContentLogging(), problem);
      }
    }
    for (int i = 0; i < config.getConsumersCount(); i++) {
      if (config.getConsumers(i).hasContentLogging()) {
        logging("consumers[" + i + "].contentLogging", config.getConsumers(i).getContentLogging(), problem);
      }
    }
  }

  private static void logging(String path, ContentLogging logging, BiConsumer<String, String> problem) {
    ratio(path + ".sampleRatio", logging.getSampleRatio(), problem);
    if (logging.getMaxChars() < 1 || logging.getMaxChars() > 1_048_576) {
      problem.accept(path + ".maxChars", "must be between 1 and 1048576");
    }
  }

  private static void ratio(String path, double ratio, BiConsumer<String, String> problem) {
    if (!(ratio >= 0 && ratio <= 1)) {
      problem.accept(path, "must be between 0 and 1, found " + ratio);
    }
  }

  private static void otlp(String path, OtlpExport otlp, BiConsumer<String, String> problem) {
    String endpoint = otlp.getEndpoint();
    if (endpoint.isBlank()) {
      problem.accept(path + ".endpoint", "is required, e.g. http://127.0.0.1:4318");
      return;
    }
    try {
      URI uri = new URI(endpoint);
      if (!("http".equals(uri.getScheme()) || "https".equals(uri.getScheme())) || uri.getHost() == null) {
        problem.accept(path + ".endpoint", "must be an http:// or https:// URL, found \"" + endpoint + "\"");
      }
    } catch (URISyntaxException e) {
      problem.accept(path + ".endpoint", "is not a URL: " + e.getMessage());
    }
    if (otlp.getTimeoutMillis() < 1) {
      problem.accept(path + ".timeoutMillis", "must be at least 1");
    }
  }
}
