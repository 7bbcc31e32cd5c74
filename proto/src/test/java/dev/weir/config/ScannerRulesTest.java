package dev.weir.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.v1.FailureMode;
import dev.weir.config.v1.GatewayConfig;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The loader refuses scanner settings that could not work, naming the field, and fills in the defaults. */
class ScannerRulesTest {
  static final String BASE = """
      backends: [ { name: b, provider: openai-compatible, url: "http://127.0.0.1:1" } ]
      pools: [ { name: p, members: [ { backend: b } ] } ]
      models: [ { name: m, pool: p } ]
      """;
  final ConfigLoader loader = new ConfigLoader(Map.of("K", "key")::get, true);

  List<String> problems(String yaml) {
    ConfigException e = assertThrows(ConfigException.class, () -> loader.parse(BASE + yaml, "test.yaml", null));
    return e.problems().stream().map(p -> p.path() + ": " + p.message()).toList();
  }

  @Test
  void aScannerGetsTheDocumentedDefaults() throws Exception {
    GatewayConfig c = loader.parse(BASE + """
        scanners: [ { name: cs, kind: azure-content-safety, url: "https://x.cognitiveservices.azure.com",
                      credential: { env: K }, categories: [ { name: Hate, threshold: 4 } ] } ]
        policies: { safety: { scanners: [ cs ] } }
        """, "test.yaml", null);
    var s = c.getScanners(0);
    assertEquals(1000, s.getTimeoutMillis());
    assertEquals(FailureMode.CLOSED, s.getOnFailure());
    assertEquals("FourSeverityLevels", s.getOutputType());
    assertEquals("2024-09-01", s.getApiVersion());
    assertEquals(60, s.getCacheSeconds());
    assertEquals(5, s.getCircuitFailures());
    assertEquals(30, s.getCircuitOpenSeconds());
  }

  @Test
  void refusesAScannerThatCouldNotWork() {
    List<String> p = problems("""
        scanners:
          - { name: cs, kind: azure-content-safety, url: "http://cs.example.com", outputType: SixLevels,
              categories: [ { name: Hatred, threshold: 0 } ], windowSize: 10, windowOverlap: 10 }
          - { name: cs, kind: webhook, url: "https://h.example.com", timeoutMillis: 9000, action: mask, shieldPrompt: true }
          - { name: mod, kind: openai-moderation, url: "https://api.openai.com", credential: { env: K },
              categories: [ { name: violence, threshold: 3 } ] }
        policies: { safety: { scanners: [ nope ] } }
        consumers: [ { name: c, keys: [ "sha256:%s" ], models: [ "*" ], safety: { scanners: [ cs, gone ] } } ]
        """.formatted("0".repeat(64)));
    String all = String.join("\n", p);
    for (String expected : List.of("scanners[0].url: must be an https:// URL", "scanners[0].credential: is required",
        "scanners[0].outputType: must be FourSeverityLevels or EightSeverityLevels",
        "scanners[0].categories[0].name: must be one of Hate, Sexual, SelfHarm, Violence",
        "scanners[0].categories[0].threshold: must be 1 to 7", "scanners[0].windowOverlap: must be smaller than windowSize",
        "scanners[1].name: duplicate scanner name", "scanners[1].timeoutMillis: must be at most 5000",
        "scanners[1].action: must be block or monitor", "scanners[1].shieldPrompt: is only used by kind azure-content-safety",
        "scanners[2].categories[0].threshold: is only used by kind azure-content-safety",
        "policies.safety.scanners[0]: no scanner named \"nope\"", "consumers[0].safety.scanners[1]: no scanner named \"gone\"")) {
      assertTrue(all.contains(expected), "missing \"" + expected + "\" in:\n" + all);
    }
  }

  @Test
  void refusesASafetyPatternThatDoesNotCompileNamingThePolicyTheIndexAndTheRegexError() {
    ConfigException e = assertThrows(ConfigException.class, () -> loader.parse(BASE + """
        policies:
          safety:
            patterns:
              - { name: employee_id, regex: "EMP-[0-9]{6}" }
        consumers:
          - name: c
            keys: [ "sha256:%s" ]
            models: [ "*" ]
            safety:
              patterns:
                - { name: ok, regex: "a+" }
                - { name: badge, regex: 'BADGE-(\\d+' }
                - { name: echo, regex: '(a)\\1' }
        """.formatted("0".repeat(64)), "test.yaml", null));
    assertEquals(2, e.problems().size(), e.getMessage());
    ConfigProblem unclosed = e.problems().get(0);
    assertEquals("consumers[0].safety.patterns[1].regex", unclosed.path());
    assertEquals(15, unclosed.line(), "the line of the bad pattern");
    assertTrue(unclosed.message().contains("pattern 1 (\"badge\") of consumers[0].safety is not a valid RE2 regex: "
        + "missing closing )"), unclosed.message());
    assertTrue(unclosed.message().contains("BADGE-(\\d+"), unclosed.message());
    assertEquals("consumers[0].safety.patterns[2].regex", e.problems().get(1).path());
    assertTrue(e.problems().get(1).message().contains("invalid escape sequence"), e.problems().get(1).message());
  }
}
