package dev.weir.config;

import dev.weir.config.v1.CachePolicy;
import dev.weir.config.v1.GatewayConfig;
import java.util.function.BiConsumer;

/** The loader's rules for the cache policies at each level: similarities are cosines, 0 to 1. */
final class CachePolicyRules {
  private CachePolicyRules() {}

  static void check(GatewayConfig config, BiConsumer<String, String> problem) {
    check("policies.cache", config.getPolicies().getCache(), problem);
    for (int i = 0; i < config.getModelsCount(); i++) {
      check("models[" + i + "].policies.cache", config.getModels(i).getPolicies().getCache(), problem);
    }
    for (int i = 0; i < config.getConsumersCount(); i++) {
      check("consumers[" + i + "].cache", config.getConsumers(i).getCache(), problem);
    }
  }

  /** Similarities are cosines of unit vectors: a value outside 0..1 is a typo, not a setting. */
  private static void check(String path, CachePolicy cache, BiConsumer<String, String> problem) {
    double[] values = {cache.getThreshold(), cache.getAgreementThreshold(), cache.getSureThreshold()};
    String[] fields = {"threshold", "agreementThreshold", "sureThreshold"};
    for (int k = 0; k < values.length; k++) {
      if (!(values[k] >= 0 && values[k] <= 1)) {
        problem.accept(path + "." + fields[k], "must be between 0 and 1 (a cosine similarity), found " + values[k]);
      }
    }
  }
}
