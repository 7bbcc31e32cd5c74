package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.extproc.cache.LuceneSemanticTier;
import dev.weir.testkit.ExchangeResponse;
import dev.weir.testkit.ScriptedUpstream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The caching page's example is the shipped file, and it caches as the page says. */
class CachingExampleTest {
  private static final Path EXAMPLE = Path.of("..", "examples", "caching.yaml");

  @Test
  void cachingPageShowsTheExampleFileVerbatim() throws Exception {
    String page = Files.readString(Path.of("..", "docs", "caching.md"));
    assertTrue(page.contains("```yaml\n" + Files.readString(EXAMPLE) + "```"),
        "docs/caching.md's example must be examples/caching.yaml exactly");
  }

  static String chat(String model, String prompt) {
    return "{\"model\":\"" + model + "\",\"temperature\":0,\"messages\":[{\"role\":\"user\",\"content\":\""
        + prompt + "\"}]}";
  }

  @Test
  void theExampleCachesAsDocumented() throws Exception {
    String yaml = Files.readString(EXAMPLE).replace("https://api.openai.com", "UPSTREAM");
    try (ScriptedUpstream upstream = new ScriptedUpstream("openai");
        Gateway gw = new Gateway(yaml, upstream, Map.of("OPENAI_API_KEY", "k"))) {
      String research = "sk-weir-research-demo";
      assertEquals("miss", gw.chat(research, chat("gpt-4o-mini", "How do I reverse a list in Python?"))
          .header("x-weir-cache"));
      ExchangeResponse again = gw.chat(research, chat("gpt-4o-mini", "How do I reverse a list in Python?"));
      assertEquals("hit-exact", again.header("x-weir-cache"));
      ((LuceneSemanticTier) gw.server.runtime().stores().cache().semanticTier()).awaitIndexed();
      ExchangeResponse paraphrase = gw.chat(research, chat("gpt-4o-mini", "How can I reverse a list in Python?"));
      assertEquals("hit-semantic", paraphrase.header("x-weir-cache"));
      assertTrue(Double.parseDouble(paraphrase.header("x-weir-cache-similarity")) >= 0.92);

      gw.chat(research, chat("gpt-4o", "How do I reverse a list in Python?"));
      assertEquals("miss", gw.chat(research, chat("gpt-4o", "How can I reverse a list in Python?"))
          .header("x-weir-cache"), "gpt-4o has the exact tier only");
      assertEquals("bypass", gw.chat("sk-weir-support-demo", chat("gpt-4o", "Hello")).header("x-weir-cache"),
          "without a team claim the support bot's requests are not cached");
      assertEquals(null, gw.chat("sk-weir-audit-demo", chat("gpt-4o", "Hello")).header("x-weir-cache"));
      assertEquals(5, upstream.received().size());
    }
  }
}
