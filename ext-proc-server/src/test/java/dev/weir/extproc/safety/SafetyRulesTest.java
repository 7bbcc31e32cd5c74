package dev.weir.extproc.safety;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.ApiKeys;
import dev.weir.config.ConfigLoader;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.config.v1.SafetyAction;
import dev.weir.extproc.pipeline.Pipeline;
import dev.weir.extproc.policy.Explain;
import dev.weir.extproc.policy.PolicySets;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** How the three levels' safety blocks combine: stricter only, never relaxed below the floor. */
class SafetyRulesTest {
  static final String CONFIG = """
      backends: [ { name: b, provider: openai-compatible, url: "http://127.0.0.1:1" } ]
      pools: [ { name: p, members: [ { backend: b } ] } ]
      policies:
        safety: { card: block, email: monitor, promptAttack: monitor, promptAttackThreshold: 1.5,
                  blockedTerms: [ alpha ], skipAnswers: true }
      models:
        - { name: m, pool: p, policies: { safety: { email: tokenize, blockedTerms: [ beta ], skipAnswers: true } } }
        - { name: plain, pool: p }
      consumers:
        - name: relaxer
          keys: [ "%s" ]
          models: [ "*" ]
          safety: { card: monitor, email: off-by-omission-is-not-a-value }
        - name: stricter
          keys: [ "%s" ]
          models: [ "*" ]
          safety: { email: block, promptAttack: block, promptAttackThreshold: 0.8, blockStatus: 403 }
        - { name: nobody, keys: [ "%s" ], models: [ "*" ] }
      """;

  static GatewayConfig config(String yaml) throws Exception {
    return new ConfigLoader(Map.<String, String>of()::get, true).parse(yaml.formatted(ApiKeys.hash("k1"),
        ApiKeys.hash("k2"), ApiKeys.hash("k3")), "test", null);
  }

  static final String VALID = CONFIG.replace(", email: off-by-omission-is-not-a-value", "");

  @Test
  void aConsumerCannotRelaxTheGlobalFloor() throws Exception {
    SafetyRules r = new PolicySets(config(VALID)).resolve("relaxer", "plain").safety();
    assertEquals(SafetyAction.BLOCK, r.action("card"));
    assertEquals("global", r.rules().get("card").level());
  }

  @Test
  void theStrictestActionWinsAndListsAddUp() throws Exception {
    SafetyRules r = new PolicySets(config(VALID)).resolve("stricter", "m").safety();
    assertEquals(SafetyAction.BLOCK, r.action("email"));
    assertEquals("consumer", r.rules().get("email").level());
    assertEquals(0.8, r.promptAttackThreshold());
    assertEquals(403, r.blockStatus());
    assertEquals(2, r.detectors().scan("alpha and beta").size());
    assertTrue(r.checkAnswers(), "the consumer's block does not skip answers");
  }

  @Test
  void answersAreSkippedOnlyWhenEveryLevelSaysSo() throws Exception {
    SafetyRules r = new PolicySets(config(VALID)).resolve("nobody", "m").safety();
    assertFalse(r.checkAnswers());
    assertEquals(SafetyAction.TOKENIZE, r.action("email"));
    assertEquals(1.5, r.promptAttackThreshold());
  }

  @Test
  void anActionThatIsNotOneOfTheFourIsRefusedByTheLoader() {
    Exception e = org.junit.jupiter.api.Assertions.assertThrows(Exception.class, () -> config(CONFIG));
    assertTrue(e.getMessage().contains("email"), e.getMessage());
  }

  @Test
  void explainShowsEachRuleWithTheLevelItComesFrom() throws Exception {
    String text = Explain.explain(config(VALID), Pipeline.standard(), "stricter", "m");
    assertTrue(text.contains("4. safety        (prompt checks)"), text);
    assertTrue(text.matches("(?s).*card\\s+block\\s+global.*"), text);
    assertTrue(text.matches("(?s).*email\\s+block\\s+consumer.*"), text);
    assertTrue(text.matches("(?s).*prompt_attack\\s+block\\s+consumer\\s+at score >= 0.8.*"), text);
    assertTrue(text.contains("block status 403; answers checked"), text);
  }
}
