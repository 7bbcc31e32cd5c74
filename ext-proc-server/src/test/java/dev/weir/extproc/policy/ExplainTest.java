package dev.weir.extproc.policy;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.extproc.pipeline.Pipeline;
import org.junit.jupiter.api.Test;

class ExplainTest {
  @Test
  void showsStagesInOrderLimitsByLevelAndBackends() throws Exception {
    String text = Explain.explain(PolicySetsTest.config(), Pipeline.standard(), "team", "big");
    int auth = text.indexOf("1. authenticate");
    int validate = text.indexOf("2. validate");
    int breaker = text.indexOf("6. breaker       (limits)");
    int limits = text.indexOf("7. limits");
    int route = text.indexOf("8. route");
    assertTrue(auth >= 0 && auth < validate && validate < breaker && breaker < limits && limits < route, text);
    assertTrue(text.matches("(?s).*org-rpm\\s+global\\s+2 requests/min, counted per client-ip.*"), text);
    assertTrue(text.matches("(?s).*big-tpm\\s+model\\s+100000 tokens/min.*"), text);
    assertTrue(text.matches("(?s).*team-quota\\s+consumer\\s+1000000 tokens per month.*"), text);
    assertTrue(text.contains("priority 0  b"), text);
  }

  @Test
  void unknownConsumerOrModelIsNamed() {
    var e = assertThrows(IllegalArgumentException.class,
        () -> Explain.explain(PolicySetsTest.config(), Pipeline.standard(), "nobody", "big"));
    assertTrue(e.getMessage().contains("no consumer named \"nobody\""), e.getMessage());
  }
}
