package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.ConfigLoader;
import dev.weir.config.v1.Backend;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.testkit.ExchangeRequest;
import dev.weir.testkit.ExchangeResponse;
import dev.weir.testkit.ScriptedUpstream;
import dev.weir.testkit.TestEnvoy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The configuration page's example is the shipped file, and it runs: a request per pool, end to end. */
class ReadmeExampleTest {
  private static final Path EXAMPLE = Path.of("..", "examples", "gateway.yaml");
  private static final String CHAT = "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

  @Test
  void configurationPageShowsTheExampleFileVerbatim() throws Exception {
    String page = Files.readString(Path.of("..", "docs", "configuration.md"));
    assertTrue(page.contains("```yaml\n" + Files.readString(EXAMPLE) + "```"),
        "docs/configuration.md's example must be examples/gateway.yaml exactly");
  }

  @Test
  void exampleConfigServesEachPoolThroughItsProvider() throws Exception {
    Map<String, String> env = Map.of("AOAI_EASTUS_KEY", "aoai-key", "OPENAI_API_KEY", "openai-key");
    GatewayConfig example = new ConfigLoader(env::get, true).load(EXAMPLE);
    try (ScriptedUpstream aoai = new ScriptedUpstream("aoai");
        ScriptedUpstream openai = new ScriptedUpstream("openai");
        ScriptedUpstream vllm = new ScriptedUpstream("vllm")) {
      // Same config, with each backend's URL pointed at a local scripted stand-in.
      GatewayConfig.Builder local = example.toBuilder();
      Map<String, ScriptedUpstream> byName = Map.of("aoai-eastus", aoai, "openai", openai, "local-vllm", vllm);
      for (Backend.Builder b : local.getBackendsBuilderList()) {
        b.setUrl(byName.get(b.getName()).url());
      }
      GatewayConfig config = local.build();
      try (ExtProcServer server = new ExtProcServer(config, env::get, "127.0.0.1", 0, 0)) {
        try (TestEnvoy envoy = Gateway.envoy(config, server.grpcPort())) {
          ExchangeResponse finance = envoy.send(ExchangeRequest.post("/v1/chat/completions",
              CHAT.formatted("gpt-4o"), "authorization", "Bearer sk-weir-finance-demo"));
          assertEquals(200, finance.status(), finance.toString());
          assertEquals("/openai/deployments/gpt-4o-ptu/chat/completions?api-version=2024-10-21", aoai.last().path());
          assertEquals("aoai-key", aoai.last().header("api-key"));

          ExchangeResponse research = envoy.send(ExchangeRequest.post("/v1/chat/completions",
              CHAT.formatted("llama-3.1-8b"), "authorization", "Bearer sk-weir-research-demo"));
          assertEquals(200, research.status(), research.toString());
          assertEquals("meta-llama/Llama-3.1-8B-Instruct", vllm.last().json().path("model").asText());

          ExchangeResponse denied = envoy.send(ExchangeRequest.post("/v1/chat/completions",
              CHAT.formatted("llama-3.1-8b"), "authorization", "Bearer sk-weir-finance-demo"));
          assertEquals(403, denied.status());
        }
      }
    }
  }

  @Test
  void quickstartConfigLoadsWithItsDemoKey() throws Exception {
    GatewayConfig quick = new ConfigLoader(Map.of("WEIR_DEMO_AZURE_KEY", "x")::get, true)
        .load(Path.of("..", "examples", "quickstart.yaml"));
    assertEquals(dev.weir.config.ApiKeys.hash("sk-weir-demo"), quick.getConsumers(0).getKeys(0));
  }
}
