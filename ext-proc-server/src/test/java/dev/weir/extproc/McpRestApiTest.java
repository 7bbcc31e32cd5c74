package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.ApiKeys;
import dev.weir.config.ConfigLoader;
import dev.weir.testkit.ScriptedUpstream;
import io.modelcontextprotocol.client.McpClient;
import io.modelcontextprotocol.client.McpSyncClient;
import io.modelcontextprotocol.client.transport.HttpClientStreamableHttpTransport;
import io.modelcontextprotocol.spec.McpError;
import io.modelcontextprotocol.spec.McpSchema;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A REST API used as MCP tools: the scripted upstream's tickets API, described by
 * examples/tickets-openapi.yaml, called by the MCP Java SDK client through the gateway, which
 * answers MCP itself and makes one REST call per tool call.
 */
class McpRestApiTest {
  static final String KEY = "sk-weir-rest-agent-key-0001";
  static final String API_KEY = "tickets-api-key-555";
  static ScriptedUpstream api;
  static Gateway gateway;
  static String base;

  @BeforeAll
  static void start() throws Exception {
    api = new ScriptedUpstream("tickets");
    String yaml = """
        mcpServers:
          - name: tickets
            url: %s/api
            credential: { key: { env: TICKETS_API_KEY }, header: x-api-key }
            rest:
              openapi: %s
              operations: [ listTickets, getTicket, createTicket ]
        consumers:
          - name: agent
            keys: [ "%s" ]
            mcp:
              - server: tickets
                deny: [ createTicket ]
          - name: helpdesk
            keys: [ "%s" ]
            mcp:
              - server: tickets
        """.formatted(api.url(), Path.of("..", "examples", "tickets-openapi.yaml").toAbsolutePath().normalize(),
        ApiKeys.hash(KEY), ApiKeys.hash("sk-weir-helpdesk-key-0002"));
    Map<String, String> env = Map.of("TICKETS_API_KEY", API_KEY);
    gateway = new Gateway(new ConfigLoader(env::get, true).parse(yaml, "test", null), env);
    base = gateway.baseUrl().replace("/v1", "");
  }

  @AfterAll
  static void stop() {
    gateway.close();
    api.close();
  }

  static McpSyncClient client(String key) {
    var transport = HttpClientStreamableHttpTransport.builder(base).endpoint("/mcp/tickets")
        .httpRequestCustomizer((request, method, uri, body, context) -> request.header("Authorization", "Bearer " + key))
        .build();
    McpSyncClient client = McpClient.sync(transport).requestTimeout(Duration.ofSeconds(10)).build();
    client.initialize();
    return client;
  }

  static String text(McpSchema.CallToolResult r) {
    return ((McpSchema.TextContent) r.content().get(0)).text();
  }

  static Map<?, ?> properties(McpSchema.Tool tool) {
    return (Map<?, ?>) tool.inputSchema().get("properties");
  }

  @Test
  void listsTheExportedOperationsAsToolsWithTheirInputSchemas() {
    try (McpSyncClient helpdesk = client("sk-weir-helpdesk-key-0002"); McpSyncClient agent = client(KEY)) {
      Map<String, McpSchema.Tool> tools = helpdesk.listTools().tools().stream()
          .collect(Collectors.toMap(McpSchema.Tool::name, t -> t));
      assertEquals(java.util.Set.of("listTickets", "getTicket", "createTicket"), tools.keySet());
      McpSchema.Tool get = tools.get("getTicket");
      assertEquals("Get one ticket by its id", get.description());
      assertEquals(List.of("id"), get.inputSchema().get("required"));
      assertEquals("integer", ((Map<?, ?>) properties(get).get("id")).get("type"));
      assertTrue(properties(tools.get("createTicket")).containsKey("body"));
      assertTrue(((Map<?, ?>) properties(tools.get("listTickets")).get("status")).containsKey("enum"));
      assertEquals(java.util.Set.of("listTickets", "getTicket"),
          agent.listTools().tools().stream().map(McpSchema.Tool::name).collect(Collectors.toSet()));
    }
  }

  @Test
  void turnsAToolCallIntoOneRestCallWithTheApisCredential() {
    int before = api.received().size();
    try (McpSyncClient agent = client(KEY)) {
      var result = agent.callTool(new McpSchema.CallToolRequest("getTicket", Map.of("id", 1), null));
      assertFalse(result.isError());
      assertTrue(text(result).contains("Printer on fire"), text(result));
      assertEquals("Printer on fire", ((Map<?, ?>) result.structuredContent()).get("title"));
      var listed = agent.callTool(new McpSchema.CallToolRequest("listTickets", Map.of("status", "open", "limit", 1), null));
      assertTrue(text(listed).startsWith("[{"), text(listed));
    }
    var calls = api.received().subList(before, api.received().size());
    assertEquals(2, calls.size(), "one REST call per tool call; initialize and tools/list are answered by the gateway");
    assertEquals("GET", calls.get(0).method());
    assertEquals("/api/tickets/1", calls.get(0).path());
    assertEquals(API_KEY, calls.get(0).header("x-api-key"));
    assertNull(calls.get(0).header("authorization"));
    assertEquals("/api/tickets?status=open&limit=1", calls.get(1).path());
  }

  @Test
  void sendsTheJsonBodyOfAnOperation() {
    try (McpSyncClient helpdesk = client("sk-weir-helpdesk-key-0002")) {
      var created = helpdesk.callTool(new McpSchema.CallToolRequest("createTicket",
          Map.of("body", Map.of("title", "VPN down", "priority", "high")), null));
      assertFalse(created.isError());
      assertEquals("VPN down", ((Map<?, ?>) created.structuredContent()).get("title"));
    }
    assertEquals("POST", api.last().method());
    assertEquals("VPN down", api.last().json().get("title").asText());
  }

  @Test
  void mapsARestErrorToAToolError() {
    try (McpSyncClient agent = client(KEY)) {
      var missing = agent.callTool(new McpSchema.CallToolRequest("getTicket", Map.of("id", 99), null));
      assertTrue(missing.isError());
      assertTrue(text(missing).contains("404") && text(missing).contains("ticket 99 not found"), text(missing));
    }
  }

  @Test
  void refusesOperationsThatAreDeniedOrNotExported() {
    try (McpSyncClient agent = client(KEY)) {
      McpError denied = assertThrows(McpError.class, () -> agent.callTool(
          new McpSchema.CallToolRequest("createTicket", Map.of("body", Map.of("title", "x")), null)));
      assertEquals(-32003, denied.getJsonRpcError().code());
      McpError unknown = assertThrows(McpError.class, () -> agent.callTool(
          new McpSchema.CallToolRequest("deleteTicket", Map.of("id", 1), null)));
      assertEquals(-32602, unknown.getJsonRpcError().code());
    }
  }
}
