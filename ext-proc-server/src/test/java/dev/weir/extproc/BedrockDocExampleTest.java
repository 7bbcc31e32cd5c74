package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.ConfigLoader;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.config.v1.Provider;
import dev.weir.testkit.BedrockDialect;
import dev.weir.testkit.ExchangeResponse;
import dev.weir.testkit.ScriptedUpstream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The config example of docs/providers.md's "AWS Bedrock" section loads, and serves a request. */
class BedrockDocExampleTest {
  private static final Path DOC = Path.of("..", "docs", "providers.md");
  private static final String PROFILE_FILE = "/etc/weir/aws/credentials";
  private static final String URL = "https://bedrock-runtime.us-east-1.amazonaws.com";

  /** The first YAML block under the "## AWS Bedrock" heading. */
  static String example() throws Exception {
    String doc = Files.readString(DOC);
    int section = doc.indexOf("\n## AWS Bedrock\n");
    assertTrue(section >= 0, "docs/providers.md has an \"## AWS Bedrock\" section");
    int start = doc.indexOf("```yaml\n", section) + "```yaml\n".length();
    return doc.substring(start, doc.indexOf("```", start));
  }

  @Test
  void exampleLoadsAsDocumented() throws Exception {
    GatewayConfig config = new ConfigLoader(Map.<String, String>of()::get, false).parse(example(), "providers.md", null);
    assertEquals(Provider.BEDROCK, config.getBackends(0).getProvider());
    assertEquals("us-east-1", config.getBackends(0).getRegion());
    assertEquals(URL, config.getBackends(0).getUrl());
    assertEquals("weir", config.getBackends(0).getAws().getProfile());
    assertEquals(PROFILE_FILE, config.getBackends(0).getAws().getProfileFile());
  }

  @Test
  void exampleServesAChatCompletionSignedWithTheProfile(@TempDir Path dir) throws Exception {
    Path credentials = dir.resolve("credentials");
    Files.writeString(credentials, "[weir]\naws_access_key_id = " + BedrockDialect.ACCESS_KEY_ID
        + "\naws_secret_access_key = " + BedrockDialect.SECRET_ACCESS_KEY + "\n");
    String yaml = example().replace(URL, "UPSTREAM").replace(PROFILE_FILE, credentials.toString());
    try (ScriptedUpstream bedrock = new ScriptedUpstream("bedrock");
        Gateway gw = new Gateway(yaml, bedrock)) {
      ExchangeResponse r = gw.chat("sk-weir-bedrock-demo",
          "{\"model\":\"claude-sonnet\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
      assertEquals(200, r.status(), r.toString());
      assertTrue(r.bodyText().contains("Hello from bedrock!"), r.bodyText());
      assertEquals("/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse", bedrock.last().path());
    }
  }
}
