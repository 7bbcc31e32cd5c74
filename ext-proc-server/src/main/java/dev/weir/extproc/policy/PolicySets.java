package dev.weir.extproc.policy;

import dev.weir.config.v1.CachePolicy;
import dev.weir.config.v1.Consumer;
import dev.weir.config.v1.ContentLogging;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.config.v1.Model;
import dev.weir.config.v1.SafetyPolicy;
import dev.weir.extproc.safety.SafetyRules;
import dev.weir.extproc.cache.CacheRules;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The policies that apply to one consumer calling one model: the global floor, then the model's,
 * then the consumer's, without repeats. A lower level can only add limits to a higher one, and only
 * tighten its cache policy, so no consumer can switch off what the organisation set. Resolved once per (consumer, model) pair of the config;
 * thread-safe.
 */
public final class PolicySets {
  /** Where a policy was attached. */
  public enum Level { GLOBAL, MODEL, CONSUMER }

  /** One policy in a resolved set and the level it came from. */
  public record Attached(String name, Level level) {}

  /**
   * The resolved set for one (consumer, model): its limits, its content-safety rules and its cache
   * policy ({@code cache} merged by {@link CacheRules#resolve}).
   */
  public record Resolved(List<Attached> limits, SafetyRules safety, CacheRules cache) {
    public List<String> limitNames() {
      return limits.stream().map(Attached::name).toList();
    }
  }

  private final List<String> global;
  private final Map<String, List<String>> byModel = new HashMap<>();
  private final Map<String, List<String>> byConsumer = new HashMap<>();
  private final SafetyPolicy globalSafety;
  private final Map<String, SafetyPolicy> modelSafety = new HashMap<>();
  private final Map<String, SafetyPolicy> consumerSafety = new HashMap<>();
  private final CachePolicy globalCache;
  private final Map<String, CachePolicy> cacheByModel = new HashMap<>();
  private final Map<String, CachePolicy> cacheByConsumer = new HashMap<>();
  private final ContentLogging globalLogging;
  private final Map<String, ContentLogging> loggingByModel = new HashMap<>();
  private final Map<String, ContentLogging> loggingByConsumer = new HashMap<>();

  /** Whether prompts and answers go into usage events: the share sampled and the size cap. */
  public record LoggingRule(double sampleRatio, int maxChars) {
    /** Off: no level switches content logging on. */
    public static final LoggingRule OFF = new LoggingRule(0, 0);
  }
  // Keys are (consumer, model) pairs that passed authentication and model access, so the
  // config bounds how many there can be.
  private final Map<String, Resolved> resolved = new ConcurrentHashMap<>();

  public PolicySets(GatewayConfig config) {
    global = config.getPolicies().getLimitsList();
    globalSafety = config.getPolicies().hasSafety() ? config.getPolicies().getSafety() : null;
    globalCache = config.getPolicies().hasCache() ? config.getPolicies().getCache() : null;
    globalLogging = config.getPolicies().hasContentLogging() ? config.getPolicies().getContentLogging() : null;
    for (Model m : config.getModelsList()) {
      byModel.put(m.getName(), m.getPolicies().getLimitsList());
      if (m.getPolicies().hasCache()) {
        cacheByModel.put(m.getName(), m.getPolicies().getCache());
      }
      if (m.getPolicies().hasContentLogging()) {
        loggingByModel.put(m.getName(), m.getPolicies().getContentLogging());
      }
      if (m.getPolicies().hasSafety()) {
        modelSafety.put(m.getName(), m.getPolicies().getSafety());
      }
    }
    for (Consumer c : config.getConsumersList()) {
      byConsumer.put(c.getName(), c.getLimitsList());
      if (c.hasCache()) {
        cacheByConsumer.put(c.getName(), c.getCache());
      }
      if (c.hasContentLogging()) {
        loggingByConsumer.put(c.getName(), c.getContentLogging());
      }
      if (c.hasSafety()) {
        consumerSafety.put(c.getName(), c.getSafety());
      }
    }
  }

  public Resolved resolve(String consumer, String model) {
    return resolved.computeIfAbsent(consumer + "\u0000" + model, k -> {
      Set<String> seen = new LinkedHashSet<>();
      List<Attached> out = new ArrayList<>();
      add(out, seen, global, Level.GLOBAL);
      add(out, seen, byModel.getOrDefault(model, List.of()), Level.MODEL);
      add(out, seen, byConsumer.getOrDefault(consumer, List.of()), Level.CONSUMER);
      List<SafetyRules.Level> safety = new ArrayList<>();
      if (globalSafety != null) {
        safety.add(new SafetyRules.Level("global", globalSafety));
      }
      if (modelSafety.containsKey(model)) {
        safety.add(new SafetyRules.Level("model", modelSafety.get(model)));
      }
      if (consumerSafety.containsKey(consumer)) {
        safety.add(new SafetyRules.Level("consumer", consumerSafety.get(consumer)));
      }
      return new Resolved(List.copyOf(out), SafetyRules.resolve(safety), CacheRules.resolve(
          java.util.Arrays.asList(globalCache, cacheByModel.get(model), cacheByConsumer.get(consumer))));
    });
  }

  /**
   * Content logging for this consumer calling this model: the highest sample ratio of the levels
   * that set one, and the smallest size cap of the levels with a block.
   */
  public LoggingRule contentLogging(String consumer, String model) {
    double ratio = 0;
    int maxChars = Integer.MAX_VALUE;
    for (ContentLogging l : java.util.Arrays.asList(globalLogging, loggingByModel.get(model), loggingByConsumer.get(consumer))) {
      if (l != null) {
        ratio = Math.max(ratio, l.getSampleRatio());
        maxChars = Math.min(maxChars, l.getMaxChars());
      }
    }
    return ratio <= 0 ? LoggingRule.OFF : new LoggingRule(ratio, maxChars);
  }

  private static void add(List<Attached> out, Set<String> seen, List<String> names, Level level) {
    for (String n : names) {
      if (seen.add(n)) {
        out.add(new Attached(n, level));
      }
    }
  }
}
