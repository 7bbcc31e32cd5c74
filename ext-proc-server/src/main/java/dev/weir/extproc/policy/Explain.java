package dev.weir.extproc.policy;

import dev.weir.config.ProviderRules;
import dev.weir.config.v1.Backend;
import dev.weir.config.v1.Consumer;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.config.v1.Limit;
import dev.weir.config.v1.Model;
import dev.weir.config.v1.Pool;
import dev.weir.config.v1.PoolMember;
import dev.weir.extproc.pipeline.Pipeline;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * What the gateway would do for one consumer calling one model, in words: the stages in the order
 * they run, the limits that apply with the level each comes from, and the pool's backends. The
 * text of {@code ext-proc-server --explain}.
 */
public final class Explain {
  private Explain() {}

  /** The explanation, or an exception naming what does not exist. */
  public static String explain(GatewayConfig config, Pipeline pipeline, String consumerName, String modelName) {
    Consumer consumer = find(config.getConsumersList(), c -> c.getName().equals(consumerName))
        .orElseThrow(() -> new IllegalArgumentException("no consumer named \"" + consumerName + "\" (consumers: "
            + String.join(", ", config.getConsumersList().stream().map(Consumer::getName).toList()) + ")"));
    Model model = find(config.getModelsList(), m -> m.getName().equals(modelName))
        .orElseThrow(() -> new IllegalArgumentException("no model named \"" + modelName + "\" (models: "
            + String.join(", ", config.getModelsList().stream().map(Model::getName).toList()) + ")"));
    StringBuilder out = new StringBuilder();
    out.append("consumer ").append(consumer.getName()).append(" calling model ").append(model.getName())
        .append(" (pool ").append(model.getPool()).append(")\n");
    boolean allowed = consumer.getModelsList().contains("*") || consumer.getModelsList().contains(modelName);
    if (!allowed) {
      out.append("  refused at model-access: 403 model_not_allowed (the consumer's models are ")
          .append(consumer.getModelsList()).append(")\n");
      return out.toString();
    }
    out.append("\nrequest, in order:\n");
    int i = 1;
    for (Pipeline.Entry e : pipeline.requestOrder()) {
      out.append(String.format(Locale.ROOT, "  %d. %-13s %s", i++, e.name(), slot(e.name(), e.request().name()))
          .stripTrailing()).append('\n');
    }
    out.append("response, in order:\n");
    i = 1;
    for (Pipeline.Entry e : pipeline.responseOrder()) {
      out.append(String.format(Locale.ROOT, "  %d. %-13s %s", i++, e.name(), slot(e.name(), e.response().name()))
          .stripTrailing()).append('\n');
    }
    PolicySets.Resolved resolved = new PolicySets(config).resolve(consumerName, modelName);
    out.append("\nlimits (global floor, then model, then consumer; all must admit):\n");
    if (resolved.limits().isEmpty()) {
      out.append("  none: requests are not counted against any limit\n");
    }
    for (PolicySets.Attached a : resolved.limits()) {
      Limit limit = find(config.getLimitsList(), l -> l.getName().equals(a.name())).orElseThrow();
      out.append(String.format(Locale.ROOT, "  %-16s %-8s %s\n", a.name(), a.level().name().toLowerCase(Locale.ROOT),
          describe(limit)));
    }
    out.append("\ncontent safety (strictest of global, model, consumer):\n");
    if (!resolved.safety().active()) {
      out.append("  none: prompts and answers are not checked\n");
    } else {
      resolved.safety().describe().forEach(line -> out.append("  ").append(line).append('\n'));
    }
    out.append("\ncache (global, then model, then consumer; a lower level only tightens):\n  ")
        .append(describe(resolved.cache())).append('\n');
    out.append("\nbackends of pool ").append(model.getPool()).append(":\n");
    Pool pool = find(config.getPoolsList(), p -> p.getName().equals(model.getPool())).orElseThrow();
    for (PoolMember m : pool.getMembersList()) {
      Backend b = find(config.getBackendsList(), x -> x.getName().equals(m.getBackend())).orElseThrow();
      out.append(String.format(Locale.ROOT, "  priority %d  %-20s %-17s %s\n", m.getPriority(), b.getName(),
          ProviderRules.yamlName(b.getProvider()),
          !m.getDeployment().isEmpty() ? "deployment " + m.getDeployment()
              : !m.getModel().isEmpty() ? "model " + m.getModel() : "model " + modelName));
    }
    return out.toString();
  }

  /** The slot in parentheses when the stage's name does not already say it. */
  private static String slot(String stage, String slotName) {
    String slot = slotName.toLowerCase(Locale.ROOT).replace('_', ' ');
    return slot.equals(stage) ? "" : "(" + slot + ")";
  }

  private static String describe(dev.weir.extproc.cache.CacheRules c) {
    if (!c.enabled()) {
      return "off";
    }
    List<String> tiers = new ArrayList<>();
    if (c.exact()) tiers.add("exact");
    if (c.semantic()) {
      tiers.add(String.format(Locale.ROOT, "semantic (threshold %.2f, verifier %s)", c.threshold(),
          c.verify() ? String.format(Locale.ROOT, "check, agreement %.2f below cosine %.2f", c.agreementThreshold(),
              c.sureThreshold()) : "skip"));
    }
    return String.join(" + ", tiers) + ", ttl " + c.ttlSeconds() + " s, shared per " + String.join(" + ", c.varyBy())
        + ", at most " + c.maxMessages() + " messages, temperature <= " + c.maxTemperature()
        + (c.allowSeed() ? " or a seed" : "") + (c.ignoreSystemMessages() ? ", system messages ignored" : "");
  }

  private static String describe(Limit l) {
    List<String> parts = new ArrayList<>();
    if (l.getTokensPerMinute() > 0) parts.add(l.getTokensPerMinute() + " tokens/min");
    if (l.getRequestsPerMinute() > 0) parts.add(l.getRequestsPerMinute() + " requests/min");
    if (l.hasQuota()) {
      parts.add(l.getQuota().getTokens() + " tokens per " + l.getQuota().getPeriod().name().toLowerCase(Locale.ROOT));
    }
    if (l.hasBudget()) {
      parts.add("$" + l.getBudget().getUsd() + " per " + l.getBudget().getPeriod().name().toLowerCase(Locale.ROOT));
    }
    String key = l.getKey().isEmpty() ? "consumer" : l.getKey();
    return String.join(", ", parts) + ", counted per " + key + ", fail "
        + l.getOnStoreFailure().name().toLowerCase(Locale.ROOT).replace("failure_mode_unspecified", "closed");
  }

  private static <T> Optional<T> find(List<T> list, java.util.function.Predicate<T> p) {
    return list.stream().filter(p).findFirst();
  }
}
