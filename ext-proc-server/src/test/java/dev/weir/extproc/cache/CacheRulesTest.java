package dev.weir.extproc.cache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.ApiKeys;
import dev.weir.config.ConfigLoader;
import dev.weir.config.v1.CacheTier;
import dev.weir.extproc.policy.PolicySets;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** How the global, model and consumer cache blocks combine: a lower level only tightens. */
class CacheRulesTest {
  static CacheRules resolve(String global, String model, String consumer) throws Exception {
    String yaml = """
        backends: [ { name: b, provider: openai-compatible, url: "http://127.0.0.1:1" } ]
        pools: [ { name: p, members: [ { backend: b } ] } ]
        policies: %s
        models: [ { name: m, pool: p, policies: %s } ]
        consumers: [ { name: c, keys: [ "%s" ], models: [ "*" ]%s } ]
        """.formatted(global, model, ApiKeys.hash("sk-x"), consumer.isEmpty() ? "" : ", cache: " + consumer);
    var config = new ConfigLoader(Map.<String, String>of()::get, true).parse(yaml, "test", null);
    return new PolicySets(config).resolve("c", "m").cache();
  }

  @Test
  void withoutAnyBlockCachingIsOff() throws Exception {
    assertFalse(resolve("{}", "{}", "").enabled());
  }

  @Test
  void aConsumerCanSwitchOnATierTheLevelsAboveAllow() throws Exception {
    CacheRules r = resolve("{ cache: { allowTiers: [ exact ] } }", "{}", "{ tiers: [ exact, semantic ] }");
    assertEquals(Set.of(CacheTier.EXACT), r.tiers());
  }

  @Test
  void aTierForbiddenAboveStaysOffAndNoneSwitchesEverythingOff() throws Exception {
    assertFalse(resolve("{ cache: { allowTiers: [ none ] } }", "{}", "{ tiers: [ exact ] }").enabled());
    assertFalse(resolve("{ cache: { tiers: [ exact ] } }", "{ cache: { tiers: [ none ] } }", "").enabled());
  }

  @Test
  void forEverySettingTheStricterValueWins() throws Exception {
    CacheRules r = resolve("""
        { cache: { tiers: [ exact, semantic ], ttlSeconds: 60, threshold: 0.95, verifier: skip, maxMessages: 8,
                   ignoreSystemMessages: true, maxTemperature: 0.5, allowSeed: true, varyBy: [ "jwt:team" ] } }""",
        "{ cache: { ttlSeconds: 86400, threshold: 0.5, maxMessages: 100, maxTemperature: 1.5, varyBy: [ consumer ] } }",
        "");
    assertEquals(60, r.ttlSeconds());
    assertEquals(0.95, r.threshold(), 1e-9);
    assertTrue(r.verify(), "the model block's default (check) wins over the global skip");
    assertEquals(8, r.maxMessages());
    assertFalse(r.ignoreSystemMessages(), "a lower block that leaves it out turns it off");
    assertFalse(r.allowSeed());
    assertEquals(0.5, r.maxTemperature(), 1e-9);
    assertEquals(List.of("jwt:team", "consumer"), r.varyBy());
    assertEquals(Set.of(CacheTier.EXACT, CacheTier.SEMANTIC), r.tiers());
  }
}
