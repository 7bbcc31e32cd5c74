package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.ApiKeys;
import dev.weir.config.ConfigLoader;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.testkit.ExchangeRequest;
import dev.weir.testkit.ExchangeResponse;
import dev.weir.testkit.ScriptedUpstream;
import dev.weir.testkit.TestEnvoy;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** ext-proc-server picks up config changes without a restart, refuses broken ones, keeps counts. */
class ConfigReloadTest {
  static final String CHAT = "{\"model\":\"m\",\"max_tokens\":100,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

  private static String config(ScriptedUpstream up, String extraConsumer) {
    return """
        backends: [ { name: local, provider: openai-compatible, url: "%s" } ]
        pools: [ { name: p, members: [ { backend: local } ] } ]
        models: [ { name: m, pool: p } ]
        limits: [ { name: tpm, tokensPerMinute: 10000 } ]
        security: { adminToken: { env: WEIR_ADMIN_TOKEN } }
        consumers:
          - { name: a, keys: [ "%s" ], models: [ "*" ], limits: [ tpm ] }
        %s
        """.formatted(up.url(), ApiKeys.hash("sk-a"), extraConsumer);
  }

  private static ExchangeResponse chat(TestEnvoy envoy, String key) {
    return envoy.send(ExchangeRequest.post("/v1/chat/completions", CHAT, "authorization", "Bearer " + key));
  }

  @Test
  void newKeyWorksAfterTheFileChangesAndABrokenEditIsRefused(@TempDir Path dir) throws Exception {
    try (ScriptedUpstream up = new ScriptedUpstream("up")) {
      Path file = dir.resolve("gateway.yaml");
      Files.writeString(file, config(up, ""));
      Map<String, String> env = Map.of("WEIR_ADMIN_TOKEN", "admin-secret");
      GatewayConfig config = new ConfigLoader(env::get, true).load(file);
      try (ExtProcServer server = new ExtProcServer(config, env::get, "127.0.0.1", 0, 0, file, true, false)) {
        try (TestEnvoy envoy = Gateway.envoy(config, server.grpcPort())) {
          ExchangeResponse first = chat(envoy, "sk-a");
          assertEquals(200, first.status());
          long remainingBefore = Long.parseLong(first.header("x-ratelimit-remaining-tokens"));
          assertEquals(401, chat(envoy, "sk-b").status());

          Files.writeString(file, config(up, "  - { name: b, keys: [ \"" + ApiKeys.hash("sk-b") + "\" ], models: [ \"*\" ] }"));
          int status = 401;
          for (int i = 0; i < 100 && status == 401; i++) {
            Thread.sleep(50);
            status = chat(envoy, "sk-b").status();
          }
          assertEquals(200, status, "the new consumer works without a restart");
          ExchangeResponse again = chat(envoy, "sk-a");
          assertTrue(Long.parseLong(again.header("x-ratelimit-remaining-tokens")) < remainingBefore,
              "counters survived the reload");

          Files.writeString(file, config(up, "  - { name: b, keys: [ \"not-a-hash\" ], models: [ \"*\" ] }"));
          HttpClient http = HttpClient.newHttpClient();
          String admin = "http://127.0.0.1:" + server.adminPort();
          String status2 = "";
          for (int i = 0; i < 100 && !status2.contains("refused"); i++) {
            Thread.sleep(50);
            status2 = http.send(HttpRequest.newBuilder(URI.create(admin + "/status")).build(),
                HttpResponse.BodyHandlers.ofString()).body();
          }
          assertTrue(status2.contains("consumers[1].keys[0]"), status2);
          assertEquals(200, chat(envoy, "sk-b").status(), "the running config stays");
          assertEquals(401, http.send(HttpRequest.newBuilder(URI.create(admin + "/reload"))
              .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString()).statusCode(),
              "reload is an admin action: it needs the admin token");
          HttpResponse<String> reload = http.send(HttpRequest.newBuilder(URI.create(admin + "/reload"))
              .header("authorization", "Bearer admin-secret").POST(HttpRequest.BodyPublishers.noBody()).build(),
              HttpResponse.BodyHandlers.ofString());
          assertEquals(400, reload.statusCode());
          assertTrue(reload.body().contains("the running config stays"), reload.body());
        }
      }
    }
  }
}
