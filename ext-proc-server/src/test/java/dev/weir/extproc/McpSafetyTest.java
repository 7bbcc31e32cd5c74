package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.ApiKeys;
import dev.weir.config.ConfigLoader;
import io.modelcontextprotocol.client.McpClient;
import io.modelcontextprotocol.client.McpSyncClient;
import io.modelcontextprotocol.client.transport.HttpClientStreamableHttpTransport;
import io.modelcontextprotocol.spec.McpError;
import io.modelcontextprotocol.spec.McpSchema;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Content safety on tool traffic: with a safety policy, a secret in a call's arguments is refused
 * before the server sees it, and a prompt injection in a tool's result never reaches the agent.
 */
class McpSafetyTest {
  static final String KEY = "sk-weir-safety-agent-key-01";
  static McpUpstream notes;
  static Gateway gateway;
  static McpSyncClient client;

  @BeforeAll
  static void start() throws Exception {
    notes = McpUpstream.stateless();
    String yaml = """
        policies:
          safety: { secrets: block, promptAttack: block }
        mcpServers:
          - { name: notes, url: "%s" }
        consumers:
          - name: agent
            keys: [ "%s" ]
            mcp: [ { server: notes } ]
        """.formatted(notes.url(), ApiKeys.hash(KEY));
    gateway = new Gateway(new ConfigLoader(Map.<String, String>of()::get, true).parse(yaml, "test", null), Map.of());
    var transport = HttpClientStreamableHttpTransport.builder(gateway.baseUrl().replace("/v1", "")).endpoint("/mcp/notes")
        .httpRequestCustomizer((request, method, uri, body, context) -> request.header("Authorization", "Bearer " + KEY))
        .build();
    client = McpClient.sync(transport).requestTimeout(Duration.ofSeconds(10)).build();
    client.initialize();
  }

  @AfterAll
  static void stop() throws Exception {
    client.close();
    gateway.close();
    notes.close();
  }

  @Test
  void refusesASecretInTheArgumentsBeforeTheServerSeesIt() {
    int before = notes.received().size();
    McpError e = assertThrows(McpError.class, () -> client.callTool(new McpSchema.CallToolRequest("add_note",
        Map.of("text", "deploy key AKIA" + "IOSFODNN7EXAMPLE for prod"), null)));
    assertEquals(-32004, e.getJsonRpcError().code());
    assertTrue(e.getMessage().contains("aws_access_key") || e.getMessage().contains("secret"), e.getMessage());
    assertEquals(before, notes.received().size());
  }

  @Test
  void withholdsAToolResultCarryingAPromptInjection() {
    McpError e = assertThrows(McpError.class, () -> client.callTool(
        new McpSchema.CallToolRequest("fetch_page", Map.of("text", "https://example.com"), null)));
    assertEquals(-32004, e.getJsonRpcError().code());
    assertTrue(e.getMessage().contains("prompt_attack"), e.getMessage());
  }

  @Test
  void passesCleanCallsAndResults() {
    var r = client.callTool(new McpSchema.CallToolRequest("search_notes", Map.of("text", "quarterly plan"), null));
    assertEquals("search_notes done: quarterly plan", ((McpSchema.TextContent) r.content().get(0)).text());
  }
}
