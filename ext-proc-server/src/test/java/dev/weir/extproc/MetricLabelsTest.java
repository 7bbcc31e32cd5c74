package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.ApiKeys;
import dev.weir.testkit.ExchangeRequest;
import dev.weir.testkit.ScriptedUpstream;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** Whatever clients send, metric label values come from the config, so the series count is bounded. */
class MetricLabelsTest {
  static final String CONFIG = """
      backends: [ { name: local, provider: openai-compatible, url: UPSTREAM } ]
      pools: [ { name: p, members: [ { backend: local } ] } ]
      models: [ { name: gpt-4o, pool: p } ]
      consumers: [ { name: team, keys: [ "%s" ], models: [ "*" ] } ]
      """.formatted(ApiKeys.hash("sk-team"));

  private static long series(String scrape, String metric) {
    return Arrays.stream(scrape.split("\n")).filter(l -> l.startsWith(metric + "{")).count();
  }

  @Test
  void unknownModelsPathsAndKeysShareOneUnknownSeries() throws Exception {
    try (ScriptedUpstream upstream = new ScriptedUpstream("up"); Gateway gw = new Gateway(CONFIG, upstream)) {
      for (int i = 0; i < 3; i++) {
        gw.chat("sk-team", "{\"model\":\"made-up-" + i + "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
        gw.chat("sk-team", "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
        gw.envoy.send(ExchangeRequest.post("/v1/made/up/" + i, "{}", "authorization", "Bearer sk-team"));
        gw.chat("sk-unknown-" + i, "{\"model\":\"other-" + i + "\",\"messages\":[]}");
      }
      String first = gw.metricsContaining("model=\"unknown\"");
      long before = series(first, "weir_exchanges_total");
      for (int i = 3; i < 40; i++) {
        gw.chat("sk-team", "{\"model\":\"made-up-" + i + "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
        gw.envoy.send(ExchangeRequest.post("/v1/made/up/" + i, "{}", "authorization", "Bearer sk-team"));
        gw.chat("sk-unknown-" + i, "{\"model\":\"other-" + i + "\",\"messages\":[]}");
      }
      Thread.sleep(200);
      String scrape = gw.metrics();
      assertFalse(scrape.contains("made-up-"), "a client-chosen model name became a label value");
      assertFalse(scrape.contains("other-"), "a client-chosen model name became a label value");
      assertFalse(scrape.contains("/v1/made"), "a client-chosen path became a label value");
      assertTrue(scrape.contains("model=\"unknown\""), scrape);
      assertEquals(before, series(scrape, "weir_exchanges_total"), "37 more odd requests, no new series");
    }
  }
}
