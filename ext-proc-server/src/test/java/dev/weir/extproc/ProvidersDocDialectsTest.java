package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
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
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The config examples of docs/providers.md's "Native Anthropic clients" and "OpenAI Responses API"
 * sections load, and serve their endpoint end to end with the key the page's hash stands for.
 */
class ProvidersDocDialectsTest {
  static final ObjectMapper JSON = new ObjectMapper();
  static final Map<String, String> ENV = Map.of("ANTHROPIC_API_KEY", "ant-key", "OPENAI_API_KEY", "openai-key",
      "AOAI_EASTUS_KEY", "aoai-key");

  /** The first YAML block of a {@code ## heading} section. */
  static String example(String heading) throws Exception {
    String page = Files.readString(Path.of("..", "docs", "providers.md"));
    int start = page.indexOf("\n## " + heading + "\n");
    assertTrue(start >= 0, "docs/providers.md has a section " + heading);
    int end = page.indexOf("\n## ", start + 1);
    String section = page.substring(start, end < 0 ? page.length() : end);
    Matcher m = Pattern.compile("```yaml\n(.*?)```", Pattern.DOTALL).matcher(section);
    assertTrue(m.find(), heading + " has a YAML example");
    return m.group(1);
  }

  /** Runs the example with every backend pointed at one scripted upstream. */
  static ExchangeResponse send(String yaml, ExchangeRequest request, ScriptedUpstream upstream) throws Exception {
    GatewayConfig.Builder local = new ConfigLoader(ENV::get, true).parse(yaml, "docs/providers.md", null).toBuilder();
    for (Backend.Builder b : local.getBackendsBuilderList()) {
      b.setUrl(upstream.url());
    }
    GatewayConfig config = local.build();
    try (ExtProcServer server = new ExtProcServer(config, ENV::get, "127.0.0.1", 0, 0)) {
      try (TestEnvoy envoy = Gateway.envoy(config, server.grpcPort())) {
        return envoy.send(request);
      }
    }
  }

  @Test
  void nativeAnthropicExampleServesMessagesWithTheDemoKey() throws Exception {
    try (ScriptedUpstream upstream = new ScriptedUpstream("claude")) {
      ExchangeResponse r = send(example("Native Anthropic clients"), ExchangeRequest.post("/v1/messages",
          "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":64,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
          "x-api-key", "sk-weir-claude-code-demo"), upstream);
      assertEquals(200, r.status(), r.toString());
      assertEquals("message", JSON.readTree(r.body()).path("type").asText());
      assertEquals("claude-sonnet-4-5-20250929", upstream.last().json().path("model").asText());
      assertEquals("ant-key", upstream.last().header("x-api-key"));
    }
  }

  @Test
  void responsesExampleServesResponsesThroughAzureFirst() throws Exception {
    try (ScriptedUpstream upstream = new ScriptedUpstream("aoai")) {
      ExchangeResponse r = send(example("OpenAI Responses API"), ExchangeRequest.post("/v1/responses",
          "{\"model\":\"gpt-4o\",\"input\":\"hi\"}", "authorization", "Bearer sk-weir-responses-demo"), upstream);
      assertEquals(200, r.status(), r.toString());
      assertEquals("response", JSON.readTree(r.body()).path("object").asText());
      assertEquals("/openai/v1/responses", upstream.last().path());
      assertEquals("gpt-4o-ptu", upstream.last().json().path("model").asText());
    }
  }
}
