package dev.weir.extproc.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import dev.weir.config.ApiKeys;
import dev.weir.config.ConfigLoader;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.extproc.limits.Limiter;
import dev.weir.extproc.limits.LocalLimitStore;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class PolicySetsTest {
  static final String CONFIG = """
      backends: [ { name: b, provider: openai-compatible, url: "http://127.0.0.1:1" } ]
      pools: [ { name: p, members: [ { backend: b } ] } ]
      policies: { limits: [ org-rpm ] }
      models:
        - { name: big, pool: p, policies: { limits: [ big-tpm, org-rpm ] } }
        - { name: small, pool: p }
      limits:
        - { name: org-rpm, key: client-ip, requestsPerMinute: 2 }
        - { name: big-tpm, tokensPerMinute: 100000 }
        - { name: team-quota, quota: { tokens: 1000000, period: month } }
      consumers:
        - { name: team, keys: [ "%s" ], models: [ "*" ], limits: [ team-quota, org-rpm ] }
        - { name: free, keys: [ "%s" ], models: [ "*" ] }
      """.formatted(ApiKeys.hash("k1"), ApiKeys.hash("k2"));

  static GatewayConfig config() throws Exception {
    return new ConfigLoader(Map.<String, String>of()::get, true).parse(CONFIG, "t", null);
  }

  @Test
  void globalThenModelThenConsumerWithoutRepeats() throws Exception {
    PolicySets sets = new PolicySets(config());
    PolicySets.Resolved r = sets.resolve("team", "big");
    assertEquals(List.of(new PolicySets.Attached("org-rpm", PolicySets.Level.GLOBAL),
        new PolicySets.Attached("big-tpm", PolicySets.Level.MODEL),
        new PolicySets.Attached("team-quota", PolicySets.Level.CONSUMER)), r.limits());
    assertEquals(List.of("org-rpm"), sets.resolve("free", "small").limitNames());
  }

  @Test
  void theGlobalFloorLimitsAConsumerThatListsNoLimits() throws Exception {
    Limiter limiter = new Limiter(config(), new LocalLimitStore(), new LocalLimitStore(), Limiter.Observer.NONE);
    Limiter.Facts facts = new Limiter.Facts("free", "10.0.0.9", Map.of(), Map.of(), "small", 10, 10);
    assertEquals(true, limiter.limits("free", "small"));
    assertInstanceOf(Limiter.Admitted.class, limiter.admit(facts));
    assertInstanceOf(Limiter.Admitted.class, limiter.admit(facts));
    Limiter.Refused refused = assertInstanceOf(Limiter.Refused.class, limiter.admit(facts));
    assertEquals("org-rpm", refused.limit());
  }

  @Test
  void anUnknownLimitAtAnyLevelIsRefusedByPath() {
    var e = org.junit.jupiter.api.Assertions.assertThrows(dev.weir.config.ConfigException.class, () ->
        new ConfigLoader(Map.<String, String>of()::get, true).parse(CONFIG.replace("[ big-tpm, org-rpm ]",
            "[ big-tpm, nope ]").replace("policies: { limits: [ org-rpm ] }", "policies: { limits: [ gone ] }"), "t", null));
    org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("policies.limits[0]"), e.getMessage());
    org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("models[0].policies.limits[1]"), e.getMessage());
  }
}
