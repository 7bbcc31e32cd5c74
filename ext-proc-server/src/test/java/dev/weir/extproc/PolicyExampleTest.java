package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.ConfigLoader;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.extproc.pipeline.Pipeline;
import dev.weir.extproc.policy.Explain;
import dev.weir.testkit.ExchangeResponse;
import dev.weir.testkit.ScriptedUpstream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The pipeline page's policy example is the shipped file; it explains and runs as documented. */
class PolicyExampleTest {
  private static final Path EXAMPLE = Path.of("..", "examples", "policies.yaml");

  @Test
  void pipelinePageShowsTheExampleFileVerbatim() throws Exception {
    String page = Files.readString(Path.of("..", "docs", "pipeline.md"));
    assertTrue(page.contains("```yaml\n" + Files.readString(EXAMPLE) + "```"),
        "docs/pipeline.md's example must be examples/policies.yaml exactly");
  }

  @Test
  void thePagesExplainOutputIsWhatExplainPrints() throws Exception {
    GatewayConfig config = new ConfigLoader(Map.of("OPENAI_API_KEY", "k")::get, true).load(EXAMPLE);
    String text = Explain.explain(config, Pipeline.standard(), "team-research", "o3");
    String page = Files.readString(Path.of("..", "docs", "pipeline.md"));
    assertTrue(page.contains(text), "docs/pipeline.md must show the current --explain output:\n" + text);
  }

  @Test
  void everyLevelLimitsARequest() throws Exception {
    String yaml = Files.readString(EXAMPLE).replace("https://api.openai.com", "UPSTREAM");
    try (ScriptedUpstream upstream = new ScriptedUpstream("openai");
        Gateway gw = new Gateway(yaml, upstream, Map.of("OPENAI_API_KEY", "k"))) {
      ExchangeResponse o3 = gw.chat("sk-weir-research-demo",
          "{\"model\":\"o3\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
      assertEquals(200, o3.status(), o3.toString());
      assertEquals("600", o3.headers().get("x-ratelimit-limit-requests"), "the global floor");
      assertTrue(o3.headers().get("x-weir-budget-remaining-usd") != null, "the model's budget: " + o3.headers());
      assertTrue(o3.headers().get("x-weir-quota-remaining-tokens") != null, "the consumer's quota: " + o3.headers());
      ExchangeResponse mini = gw.chat("sk-weir-research-demo",
          "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
      assertEquals(null, mini.headers().get("x-weir-budget-remaining-usd"), "o3's budget is o3's only");
    }
  }
}
