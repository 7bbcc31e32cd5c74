package dev.weir.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.v1.FailureMode;
import dev.weir.config.v1.GatewayConfig;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The loader's rules for mcpServers and consumers' MCP access. */
class McpConfigTest {
  private final ConfigLoader loader = new ConfigLoader(Map.of("TRACKER_KEY", "s3cret-value")::get, true);

  private static final String VALID = """
      identityProviders:
        - { name: corp, issuer: https://login.example.com, audiences: [ "https://gw.example.com/mcp/tracker" ] }
      mcpServers:
        - name: tracker
          url: https://tracker.example.com/mcp
          credential: { key: { env: TRACKER_KEY } }
          oauth: { resource: https://gw.example.com/mcp/tracker, authorizationServers: [ https://login.example.com ] }
      consumers:
        - name: agent
          keys: [ "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" ]
          mcp:
            - { server: tracker, allow: [ "search_*" ], deny: [ "search_private" ] }
      """;

  private List<String> problems(String yaml) {
    ConfigException e = assertThrows(ConfigException.class, () -> loader.parse(yaml, "t.yaml", null));
    assertFalse(e.getMessage().contains("s3cret-value"), e.getMessage());
    return e.problems().stream().map(p -> p.path() + ": " + p.message()).toList();
  }

  @Test
  void loadsAnMcpOnlyConsumerWithTheServersDefaults() throws Exception {
    GatewayConfig c = loader.parse(VALID, "t.yaml", null);
    var s = c.getMcpServers(0);
    assertEquals("authorization", s.getCredential().getHeader());
    assertEquals(300, s.getIdleSeconds());
    assertEquals(100, s.getMaxToolLabels());
    assertEquals(FailureMode.CLOSED, s.getOnStoreFailure());
    assertEquals(0, c.getConsumers(0).getModelsCount());
  }

  @Test
  void namesEveryWrongMcpSettingByItsPath() {
    String bad = VALID.replace("url: https://tracker.example.com/mcp", "url: ftp://tracker")
        .replace("env: TRACKER_KEY", "env: NOT_SET")
        .replace("authorizationServers: [ https://login.example.com ]", "authorizationServers: [ https://other ]")
        .replace("server: tracker,", "server: trakcer,")
        .replace("\"search_*\"", "\"search issues\"");
    List<String> found = problems(bad);
    assertTrue(found.stream().anyMatch(p -> p.startsWith("mcpServers[0].url: must be an http(s) URL")), found.toString());
    assertTrue(found.stream().anyMatch(p -> p.startsWith("mcpServers[0].credential.key: environment variable NOT_SET")),
        found.toString());
    assertTrue(found.stream().anyMatch(p -> p.startsWith("mcpServers[0].oauth.authorizationServers[0]: no identity provider")),
        found.toString());
    assertTrue(found.contains("consumers[0].mcp[0].server: no MCP server named \"trakcer\""), found.toString());
    assertTrue(found.stream().anyMatch(p -> p.startsWith("consumers[0].mcp[0].allow[0]: must be a tool name")),
        found.toString());
  }

  @Test
  void aRestApiNeedsItsDocumentAndOperations() {
    List<String> found = problems(VALID.replace("    oauth:", "    rest: { openapi: no-such-file.yaml }\n    oauth:"));
    assertTrue(found.contains("mcpServers[0].rest.openapi: cannot read no-such-file.yaml"), found.toString());
    assertTrue(found.contains("mcpServers[0].rest.operations: list the operationIds to expose as tools"), found.toString());
  }

  @Test
  void aConsumerWithNeitherModelsNorMcpIsStillRefused() {
    List<String> found = problems(VALID.replace("""
              mcp:
                - { server: tracker, allow: [ "search_*" ], deny: [ "search_private" ] }
          """, ""));
    assertTrue(found.stream().anyMatch(p -> p.startsWith("consumers[0].models:")), found.toString());
  }
}
