package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.ApiKeys;
import dev.weir.events.v1.UsageEvent;
import dev.weir.testkit.ScriptedUpstream;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Prompt and answer text in usage events: off by default, on per policy, masked and size-capped. */
class ContentLoggingTest {
  static final String CONFIG = """
      backends: [ { name: local, provider: openai-compatible, url: UPSTREAM } ]
      pools: [ { name: p, members: [ { backend: local } ] } ]
      models:
        - { name: gpt-4o, pool: p, policies: { contentLogging: { sampleRatio: 1, maxChars: 500 } } }
        - { name: quiet, pool: p }
      policies:
        safety: { email: tokenize }
      consumers:
        - { name: team, keys: [ "%s" ], models: [ "*" ] }
        - { name: short, keys: [ "%s" ], models: [ "*" ], contentLogging: { maxChars: 30 } }
      """.formatted(ApiKeys.hash("sk-team"), ApiKeys.hash("sk-short"));

  static String chat(String model, String prompt) {
    return "{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"" + prompt + "\"}]}";
  }

  static UsageEvent newest(Gateway gw, int count) throws InterruptedException {
    for (int i = 0; i < 300; i++) {
      List<UsageEvent> events = gw.server.runtime().telemetry().recent().newest(1000, null, null);
      if (events.size() >= count) {
        return events.get(0);
      }
      Thread.sleep(10);
    }
    throw new AssertionError("fewer than " + count + " events");
  }

  @Test
  void aModelPolicyLogsThePromptMaskedAndTheAnswerAsTheClientGotIt() throws Exception {
    try (ScriptedUpstream upstream = new ScriptedUpstream("up"); Gateway gw = new Gateway(CONFIG, upstream)) {
      assertEquals(200, gw.chat("sk-team", chat("gpt-4o", "write to jane@example.com please")).status());
      UsageEvent e = newest(gw, 1);
      assertFalse(e.getPrompt().contains("jane@example.com"), e.getPrompt());
      assertTrue(e.getPrompt().contains("<EMAIL"), "the prompt the backend got, tokenized: " + e.getPrompt());
      assertTrue(e.getAnswer().contains("Hello from up!"), e.getAnswer());
      assertFalse(e.getContentTruncated());
    }
  }

  @Test
  void withoutAPolicyNoTextIsLoggedAndTheSmallestCapOfTheLevelsApplies() throws Exception {
    try (ScriptedUpstream upstream = new ScriptedUpstream("up"); Gateway gw = new Gateway(CONFIG, upstream)) {
      assertEquals(200, gw.chat("sk-team", chat("quiet", "nothing to see")).status());
      UsageEvent quiet = newest(gw, 1);
      assertEquals("", quiet.getPrompt(), "off by default");
      assertEquals("", quiet.getAnswer());
      assertEquals(200, gw.chat("sk-short", chat("gpt-4o", "a prompt that is longer than thirty characters")).status());
      UsageEvent cut = newest(gw, 2);
      assertEquals(30, cut.getPrompt().length());
      assertTrue(cut.getContentTruncated());
    }
  }
}
