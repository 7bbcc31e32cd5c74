package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.ConfigLoader;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.testkit.ExchangeRequest;
import dev.weir.testkit.ExchangeResponse;
import dev.weir.testkit.RedisServerProcess;
import dev.weir.testkit.ScriptedUpstream;
import dev.weir.testkit.TestEnvoy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** docs/token-governance.md's example, shown verbatim and run against a real Redis. */
class GovernanceExampleIT {
  private static final Path EXAMPLE = Path.of("..", "examples", "governance.yaml");

  @Test
  void governancePageShowsTheExampleVerbatim() throws Exception {
    assertTrue(Files.readString(Path.of("..", "docs", "token-governance.md")).contains("```yaml\n" + Files.readString(EXAMPLE) + "```"));
  }

  @Test
  void theExampleLimitsRequestsTokensMoneyAndUsersAsDocumented() throws Exception {
    Map<String, String> env = Map.of("OPENAI_API_KEY", "sk-upstream");
    try (RedisServerProcess redis = new RedisServerProcess(); ScriptedUpstream openai = new ScriptedUpstream("openai")) {
      GatewayConfig.Builder b = new ConfigLoader(env::get, true).load(EXAMPLE).toBuilder();
      b.getBackendsBuilder(0).setUrl(openai.url());
      b.getRedisBuilder().setUri(redis.uri());
      GatewayConfig config = b.build();
      try (ExtProcServer server = new ExtProcServer(config, env::get, "127.0.0.1", 0, 0)) {
        try (TestEnvoy envoy = Gateway.envoy(config, server.grpcPort())) {
          ExchangeRequest chat = ExchangeRequest.post("/v1/chat/completions",
              "{\"model\":\"gpt-4o\",\"max_tokens\":50,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
              "authorization", "Bearer sk-weir-finance-demo").withJwtClaims(Map.of("sub", "user-42"));
          ExchangeResponse first = envoy.send(chat);
          assertEquals(200, first.status(), first.toString());
          assertEquals("5000", first.header("x-ratelimit-limit-tokens"), "the tightest token rate: per-user");
          assertEquals("60", first.header("x-ratelimit-limit-requests"), "the tightest request rate: team-rate");
          assertEquals("250.00", first.header("x-weir-budget-limit-usd"));
          assertEquals("5000000", first.header("x-weir-quota-limit-tokens"));
          for (int i = 1; i < 60; i++) {
            assertEquals(200, envoy.send(chat).status(), "request " + (i + 1));
          }
          ExchangeResponse refused = envoy.send(chat);
          assertEquals(429, refused.status());
          assertTrue(refused.bodyText().contains("requests_per_minute_exceeded"), refused.bodyText());
          assertEquals("team-rate", refused.header("x-weir-limit"));
          assertTrue(redis.command("DBSIZE").matches(":[1-9][0-9]*"), "the counters are in Redis");
        }
      }
    }
  }
}
