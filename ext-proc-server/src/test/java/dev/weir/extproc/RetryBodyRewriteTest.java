package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.weir.config.ApiKeys;
import dev.weir.config.ConfigLoader;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.testkit.ExchangeRequest;
import dev.weir.testkit.ExchangeResponse;
import dev.weir.testkit.ScriptedUpstream;
import dev.weir.testkit.TestEnvoy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A retry of a request whose body the upstream pass rewrote. Envoy re-sends the router's original
 * body with the headers the previous attempt left (content-length and x-weir-body-model
 * included), so every attempt must rewrite the body again.
 */
class RetryBodyRewriteTest {
  private static final String KEY = "sk-weir-retry-body-test-0001";

  /**
   * Runs one chat request through a gateway whose pool "llama" has {@code members} (YAML flow
   * maps), each backend an openai-compatible one at the given URL.
   */
  private static ExchangeResponse send(Path dir, Map<String, String> backendUrls, List<String> members)
      throws Exception {
    StringBuilder yaml = new StringBuilder("backends:\n");
    backendUrls.forEach((name, url) -> yaml.append("  - { name: ").append(name)
        .append(", provider: openai-compatible, url: \"").append(url).append("\" }\n"));
    yaml.append("pools:\n  - name: llama\n    strategy: priority\n    members:\n");
    members.forEach(m -> yaml.append("      - ").append(m).append('\n'));
    // A retry that hangs on a wrong content-length fails in seconds, not minutes.
    yaml.append("    timeouts: { tryIdleSeconds: 2 }\n");
    yaml.append("models:\n  - { name: llama, pool: llama }\n");
    yaml.append("consumers:\n  - { name: app, keys: [ \"").append(ApiKeys.hash(KEY)).append("\" ], models: [ llama ] }\n");
    Path file = dir.resolve("gateway.yaml");
    Files.writeString(file, yaml);
    GatewayConfig config = new ConfigLoader(Map.<String, String>of()::get, true).load(file);
    try (ExtProcServer server = new ExtProcServer(config, Map.<String, String>of()::get, "127.0.0.1", 0, 0)) {
      try (TestEnvoy envoy = Gateway.envoy(config, server.grpcPort())) {
        return envoy.send(ExchangeRequest.post("/v1/chat/completions",
            "{\"model\":\"llama\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
            "authorization", "Bearer " + KEY));
      }
    }
  }

  private static void assertBodyMatches(ScriptedUpstream.Recorded attempt, String model) {
    assertEquals(model, attempt.json().path("model").asText());
    assertEquals(Integer.toString(attempt.body().length), attempt.header("content-length"));
  }

  @Test
  void aRetryToTheSameHostSendsTheRewrittenModelWithAMatchingContentLength(@TempDir Path dir) throws Exception {
    try (ScriptedUpstream backend = new ScriptedUpstream("vllm")) {
      backend.enqueue(ScriptedUpstream.status(503));
      ExchangeResponse response = send(dir, Map.of("vllm", backend.url()),
          List.of("{ backend: vllm, model: meta-llama/Llama-3.1-8B-Instruct }"));
      assertEquals(200, response.status(), response.trace().toString());
      List<ScriptedUpstream.Recorded> got = backend.received();
      assertEquals(2, got.size(), "the 503, then the retry on the pool's only host");
      got.forEach(attempt -> assertBodyMatches(attempt, "meta-llama/Llama-3.1-8B-Instruct"));
    }
  }

  @Test
  void aRetryToAMemberWithoutRewriteSendsTheClientsModelWithAMatchingContentLength(@TempDir Path dir)
      throws Exception {
    try (ScriptedUpstream first = new ScriptedUpstream("first");
        ScriptedUpstream second = new ScriptedUpstream("second")) {
      first.enqueue(ScriptedUpstream.status(503));
      ExchangeResponse response = send(dir, Map.of("first", first.url(), "second", second.url()),
          List.of("{ backend: first, priority: 0, model: meta-llama/Llama-3.1-8B-Instruct }",
              "{ backend: second, priority: 1 }"));
      assertEquals(200, response.status(), response.trace().toString());
      assertBodyMatches(first.last(), "meta-llama/Llama-3.1-8B-Instruct");
      assertBodyMatches(second.last(), "llama");
    }
  }
}
