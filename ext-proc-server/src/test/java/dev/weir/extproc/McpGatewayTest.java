package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.weir.config.ApiKeys;
import dev.weir.config.ConfigLoader;
import dev.weir.extproc.openai.Json;
import dev.weir.testkit.ExchangeRequest;
import dev.weir.testkit.ExchangeResponse;
import io.modelcontextprotocol.client.McpClient;
import io.modelcontextprotocol.client.McpSyncClient;
import io.modelcontextprotocol.client.transport.HttpClientStreamableHttpTransport;
import io.modelcontextprotocol.spec.McpError;
import io.modelcontextprotocol.spec.McpSchema;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The MCP gateway end to end: the official MCP Java SDK as the client, real SDK-built MCP servers
 * (session-based and stateless) as upstreams, the test-kit's Envoy with the routes and clusters
 * xds-control-plane builds, and the real ext-proc-server between them.
 */
class McpGatewayTest {
  static final String AGENT_KEY = "sk-weir-agent-test-key-0001";
  static final String OPS_KEY = "sk-weir-ops-test-key-0002";
  static final String OUTSIDER_KEY = "sk-weir-outsider-test-key-0003";
  static final String TRACKER_SECRET = "tracker-upstream-secret-789";

  static McpUpstream tracker;
  static McpUpstream notes;
  static Gateway gateway;
  static String base;

  @BeforeAll
  static void start() throws Exception {
    tracker = McpUpstream.sessions();
    notes = McpUpstream.stateless();
    String yaml = """
        mcpServers:
          - name: tracker
            url: %s
            credential: { key: { env: TRACKER_KEY } }
          - name: notes
            url: %s
            host: notes.mcp.local
        consumers:
          - name: agent
            keys: [ "%s" ]
            mcp:
              - server: tracker
                allow: [ "search_*", "get_issue", "slow_*", "echo" ]
                callsPerMinute: 2
              - server: notes
                deny: [ "add_*" ]
          - name: ops
            keys: [ "%s" ]
            mcp:
              - server: tracker
          - name: outsider
            keys: [ "%s" ]
            models: [ "*" ]
        """.formatted(tracker.url(), notes.url(), ApiKeys.hash(AGENT_KEY), ApiKeys.hash(OPS_KEY),
        ApiKeys.hash(OUTSIDER_KEY));
    Map<String, String> env = Map.of("TRACKER_KEY", TRACKER_SECRET);
    gateway = new Gateway(new ConfigLoader(env::get, true).parse(yaml, "test", null), env);
    base = gateway.baseUrl().replace("/v1", "");
  }

  @AfterAll
  static void stop() throws Exception {
    gateway.close();
    tracker.close();
    notes.close();
  }

  static McpSyncClient client(String key, String server) {
    var transport = HttpClientStreamableHttpTransport.builder(base).endpoint("/mcp/" + server)
        .httpRequestCustomizer((request, method, uri, body, context) -> request.header("Authorization", "Bearer " + key))
        .build();
    McpSyncClient client = McpClient.sync(transport).requestTimeout(Duration.ofSeconds(10)).build();
    client.initialize();
    return client;
  }

  private static Set<String> toolNames(McpSyncClient client) {
    return client.listTools().tools().stream().map(McpSchema.Tool::name).collect(Collectors.toSet());
  }

  private static String text(McpSchema.CallToolResult result) {
    return ((McpSchema.TextContent) result.content().get(0)).text();
  }

  @Test
  void listsOnlyTheToolsEachConsumerMayUse() {
    try (McpSyncClient agent = client(AGENT_KEY, "tracker"); McpSyncClient ops = client(OPS_KEY, "tracker")) {
      assertEquals(Set.of("search_issues", "get_issue", "slow_report", "echo"), toolNames(agent));
      assertEquals(Set.of("search_issues", "get_issue", "delete_repo", "slow_report", "echo"), toolNames(ops));
    }
    try (McpSyncClient agent = client(AGENT_KEY, "notes")) {
      assertEquals(Set.of("search_notes", "echo", "fetch_page"), toolNames(agent));
    }
  }

  @Test
  void servesAnAllowedCallWithTheServersCredentialNeverTheClients() {
    int before = tracker.received().size();
    try (McpSyncClient ops = client(OPS_KEY, "tracker")) {
      var result = ops.callTool(new McpSchema.CallToolRequest("get_issue", Map.of("text", "WEIR-14"), null));
      assertEquals("get_issue done: WEIR-14", text(result));
    }
    List<Map<String, String>> seen = tracker.received().subList(before, tracker.received().size());
    assertFalse(seen.isEmpty());
    for (Map<String, String> h : seen) {
      assertEquals("Bearer " + TRACKER_SECRET, h.get("authorization"));
      assertEquals("/mcp", h.get(":path"));
    }
  }

  @Test
  void refusesADeniedCallWithAJsonRpcError() {
    try (McpSyncClient agent = client(AGENT_KEY, "tracker")) {
      McpError e = assertThrows(McpError.class,
          () -> agent.callTool(new McpSchema.CallToolRequest("delete_repo", Map.of(), null)));
      assertEquals(-32003, e.getJsonRpcError().code());
      assertTrue(e.getMessage().contains("delete_repo"), e.getMessage());
    }
    try (McpSyncClient agent = client(AGENT_KEY, "notes")) {
      McpError e = assertThrows(McpError.class,
          () -> agent.callTool(new McpSchema.CallToolRequest("add_note", Map.of("text", "x"), null)));
      assertEquals(-32003, e.getJsonRpcError().code());
    }
  }

  @Test
  void refusesACallOverTheConsumersToolLimitWithRetryAfter() throws Exception {
    try (McpSyncClient agent = client(AGENT_KEY, "tracker")) {
      // agent may call each tracker tool twice a minute; search_issues is used only here.
      agent.callTool(new McpSchema.CallToolRequest("search_issues", Map.of("text", "a"), null));
      agent.callTool(new McpSchema.CallToolRequest("search_issues", Map.of("text", "b"), null));
      Exception refused = assertThrows(Exception.class,
          () -> agent.callTool(new McpSchema.CallToolRequest("search_issues", Map.of("text", "c"), null)));
      assertTrue(String.valueOf(refused.getMessage()).contains("429"), String.valueOf(refused.getMessage()));
      // Another tool has its own count.
      assertEquals("get_issue done: 1", text(agent.callTool(new McpSchema.CallToolRequest("get_issue",
          Map.of("text", "1"), null))));
    }
    ExchangeResponse raw = gateway.envoy.send(post("/mcp/tracker", AGENT_KEY, """
        {"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"search_issues","arguments":{}}}"""));
    assertEquals(429, raw.status());
    long retryAfter = Long.parseLong(raw.header("retry-after"));
    // The window is the current second and the 60 before it (LimitStore.reserveWindow).
    assertTrue(retryAfter >= 1 && retryAfter <= 61, "Retry-After " + retryAfter);
    JsonNode body = Json.MAPPER.readTree(raw.body());
    assertEquals(7, body.get("id").asInt());
    assertEquals(-32029, body.at("/error/code").asInt());
    assertEquals(retryAfter, body.at("/error/data/retryAfterSeconds").asLong());
  }

  @Test
  void passesAStreamedAnswerWithItsProgressEventsThrough() throws Exception {
    try (McpSyncClient agent = client(AGENT_KEY, "tracker")) {
      assertEquals("slow_report done: q3", text(agent.callTool(
          new McpSchema.CallToolRequest("slow_report", Map.of("text", "q3"), null))));
    }
    // The same call over plain HTTP, to see the stream itself: progress events, then the result.
    HttpClient http = HttpClient.newHttpClient();
    HttpResponse<String> init = http.send(mcpPost("/mcp/tracker", AGENT_KEY, null, """
        {"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},
        "clientInfo":{"name":"raw","version":"1"}}}"""), HttpResponse.BodyHandlers.ofString());
    String session = init.headers().firstValue("mcp-session-id").orElseThrow();
    http.send(mcpPost("/mcp/tracker", AGENT_KEY, session, """
        {"jsonrpc":"2.0","method":"notifications/initialized"}"""), HttpResponse.BodyHandlers.ofString());
    HttpResponse<String> call = http.send(mcpPost("/mcp/tracker", AGENT_KEY, session, """
        {"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"slow_report","arguments":{"text":"q4"},
        "_meta":{"progressToken":"t1"}}}"""), HttpResponse.BodyHandlers.ofString());
    assertEquals(200, call.statusCode());
    assertTrue(call.headers().firstValue("content-type").orElse("").startsWith("text/event-stream"));
    assertTrue(call.body().indexOf("notifications/progress") < call.body().indexOf("slow_report done: q4"),
        call.body());
  }

  @Test
  void keepsTheSessionOfASessionBasedServerAndNeedsNoneWithAStatelessOne() throws Exception {
    HttpClient http = HttpClient.newHttpClient();
    String init = """
        {"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},
        "clientInfo":{"name":"raw","version":"1"}}}""";
    HttpResponse<String> tracked = http.send(mcpPost("/mcp/tracker", OPS_KEY, null, init),
        HttpResponse.BodyHandlers.ofString());
    assertEquals(200, tracked.statusCode());
    String session = tracked.headers().firstValue("mcp-session-id").orElseThrow();
    HttpResponse<String> listed = http.send(mcpPost("/mcp/tracker", OPS_KEY, session, """
        {"jsonrpc":"2.0","id":2,"method":"tools/list"}"""), HttpResponse.BodyHandlers.ofString());
    assertEquals(200, listed.statusCode());
    assertTrue(listed.body().contains("delete_repo"));
    // An id the gateway did not see this consumer open is refused as unknown.
    HttpResponse<String> unknown = http.send(mcpPost("/mcp/tracker", OPS_KEY, "no-such-session", """
        {"jsonrpc":"2.0","id":3,"method":"tools/list"}"""), HttpResponse.BodyHandlers.ofString());
    assertEquals(404, unknown.statusCode());
    HttpResponse<Void> ended = http.send(HttpRequest.newBuilder(URI.create(base + "/mcp/tracker"))
        .header("authorization", "Bearer " + OPS_KEY).header("mcp-session-id", session).DELETE().build(),
        HttpResponse.BodyHandlers.discarding());
    assertEquals(200, ended.statusCode());

    HttpResponse<String> stateless = http.send(mcpPost("/mcp/notes", AGENT_KEY, null, """
        {"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"search_notes","arguments":{"text":"x"}}}"""),
        HttpResponse.BodyHandlers.ofString());
    assertEquals(200, stateless.statusCode());
    assertTrue(stateless.headers().firstValue("mcp-session-id").isEmpty());
    assertTrue(stateless.headers().firstValue("content-type").orElse("").startsWith("application/json"));
    assertTrue(stateless.body().contains("search_notes done: x"), stateless.body());
  }

  @Test
  void aSessionIdIsRefusedAsUnknownToAConsumerThatDidNotOpenIt() throws Exception {
    HttpClient http = HttpClient.newHttpClient();
    HttpResponse<String> opened = http.send(mcpPost("/mcp/tracker", OPS_KEY, null, """
        {"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},
        "clientInfo":{"name":"raw","version":"1"}}}"""), HttpResponse.BodyHandlers.ofString());
    assertEquals(200, opened.statusCode());
    String opsSession = opened.headers().firstValue("mcp-session-id").orElseThrow();

    // agent may use tracker too, but not through the session ops opened: not a call, a stream or a DELETE.
    String list = """
        {"jsonrpc":"2.0","id":2,"method":"tools/list"}""";
    HttpResponse<String> borrowed = http.send(mcpPost("/mcp/tracker", AGENT_KEY, opsSession, list),
        HttpResponse.BodyHandlers.ofString());
    assertEquals(404, borrowed.statusCode(), borrowed.body());
    JsonNode error = Json.MAPPER.readTree(borrowed.body()).path("error");
    assertEquals(-32001, error.path("code").asInt(), borrowed.body());
    assertEquals("Session not found.", error.path("message").asText());
    HttpResponse<Void> stream = http.send(HttpRequest.newBuilder(URI.create(base + "/mcp/tracker"))
        .header("authorization", "Bearer " + AGENT_KEY).header("accept", "text/event-stream")
        .header("mcp-session-id", opsSession).GET().build(), HttpResponse.BodyHandlers.discarding());
    assertEquals(404, stream.statusCode());
    HttpResponse<Void> ended = http.send(HttpRequest.newBuilder(URI.create(base + "/mcp/tracker"))
        .header("authorization", "Bearer " + AGENT_KEY).header("mcp-session-id", opsSession).DELETE().build(),
        HttpResponse.BodyHandlers.discarding());
    assertEquals(404, ended.statusCode());

    HttpResponse<String> own = http.send(mcpPost("/mcp/tracker", OPS_KEY, opsSession, list),
        HttpResponse.BodyHandlers.ofString());
    assertEquals(200, own.statusCode(), "the session is still ops's: " + own.body());
    assertTrue(own.body().contains("delete_repo"), own.body());
    // agent's own session works as before.
    try (McpSyncClient agent = client(AGENT_KEY, "tracker")) {
      assertEquals(Set.of("search_issues", "get_issue", "slow_report", "echo"), toolNames(agent));
    }
  }

  @Test
  void refusesARequestCarryingTwoSessionIdsSoAnUncheckedOneCannotSlipThrough() throws Exception {
    HttpClient http = HttpClient.newHttpClient();
    String init = """
        {"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},
        "clientInfo":{"name":"raw","version":"1"}}}""";
    String opsSession = http.send(mcpPost("/mcp/tracker", OPS_KEY, null, init), HttpResponse.BodyHandlers.ofString())
        .headers().firstValue("mcp-session-id").orElseThrow();
    String agentSession = http.send(mcpPost("/mcp/tracker", AGENT_KEY, null, init),
        HttpResponse.BodyHandlers.ofString()).headers().firstValue("mcp-session-id").orElseThrow();

    // agent's own id first (the one a first-value check would pass), then the id ops opened.
    HttpRequest twice = HttpRequest.newBuilder(URI.create(base + "/mcp/tracker"))
        .header("authorization", "Bearer " + AGENT_KEY)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", agentSession)
        .header("mcp-session-id", opsSession)
        .POST(HttpRequest.BodyPublishers.ofString("""
            {"jsonrpc":"2.0","id":2,"method":"tools/list"}""")).build();
    HttpResponse<String> refused = http.send(twice, HttpResponse.BodyHandlers.ofString());
    assertEquals(400, refused.statusCode(), refused.body());
    JsonNode error = Json.MAPPER.readTree(refused.body()).path("error");
    assertEquals(-32600, error.path("code").asInt(), refused.body());
    assertTrue(error.path("message").asText().contains("Mcp-Session-Id"), refused.body());
  }

  @Test
  void servesAStatelessRevisionRequestWhoseHeadersMatchItsBody() throws Exception {
    int before = notes.received().size();
    ExchangeResponse ok = gateway.envoy.send(post("/mcp/notes", AGENT_KEY, """
        {"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"search_notes","arguments":{"text":"y"},
        "_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}""",
        "mcp-protocol-version", "2026-07-28", "mcp-method", "tools/call", "mcp-name", "search_notes"));
    // The SDK server speaks up to 2025-11-25 and says so; what matters is that the gateway let it through.
    assertNotNull(ok.header("content-type"));
    assertFalse(ok.bodyText().contains("-32020"), ok.bodyText());
    assertEquals(before + 1, notes.received().size());
    assertEquals("search_notes", notes.received().get(before).get("mcp-name"));
  }

  @Test
  void refusesAHeaderThatDisagreesWithTheBody() throws Exception {
    int before = notes.received().size();
    ExchangeResponse name = gateway.envoy.send(post("/mcp/notes", AGENT_KEY, """
        {"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"add_note","arguments":{}}}""",
        "mcp-protocol-version", "2026-07-28", "mcp-method", "tools/call", "mcp-name", "search_notes"));
    assertEquals(400, name.status());
    JsonNode body = Json.MAPPER.readTree(name.body());
    assertEquals(-32020, body.at("/error/code").asInt());
    assertEquals(8, body.get("id").asInt());
    assertTrue(body.at("/error/message").asText().contains("search_notes"));
    ExchangeResponse method = gateway.envoy.send(post("/mcp/notes", AGENT_KEY, """
        {"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"search_notes","arguments":{}}}""",
        "mcp-protocol-version", "2026-07-28", "mcp-method", "tools/list"));
    assertEquals(400, method.status());
    ExchangeResponse missing = gateway.envoy.send(post("/mcp/notes", AGENT_KEY, """
        {"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"search_notes","arguments":{}}}""",
        "mcp-protocol-version", "2026-07-28", "mcp-method", "tools/call"));
    assertEquals(400, missing.status());
    // Base64 sentinel form (Value Encoding) decodes before the comparison.
    ExchangeResponse encoded = gateway.envoy.send(post("/mcp/notes", AGENT_KEY, """
        {"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"search_notes","arguments":{}}}""",
        "mcp-protocol-version", "2026-07-28", "mcp-method", "tools/call", "mcp-name", "=?base64?c2VhcmNoX25vdGVz?="));
    assertNotNull(encoded.header("content-type"));
    assertFalse(encoded.bodyText().contains("-32020"), encoded.bodyText());
    assertEquals(before + 1, notes.received().size(), "only the matching request reached the server");
  }

  @Test
  void reachesAServerAtItsOwnHost() throws Exception {
    ExchangeResponse r = gateway.envoy.send(post("/mcp", AGENT_KEY,
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/list\"}", "host", "notes.mcp.local"));
    assertEquals(200, r.status());
    assertTrue(r.bodyText().contains("search_notes") && !r.bodyText().contains("add_note"), r.bodyText());
  }

  @Test
  void refusesCallersWithoutAKeyOrWithoutAccessToTheServer() throws Exception {
    ExchangeResponse none = gateway.envoy.send(ExchangeRequest.post("/mcp/tracker",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}", "accept", "application/json, text/event-stream"));
    assertEquals(401, none.status());
    ExchangeResponse outsider = gateway.envoy.send(post("/mcp/tracker", OUTSIDER_KEY,
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}"));
    assertEquals(403, outsider.status());
    assertTrue(outsider.bodyText().contains("no access to MCP server"), outsider.bodyText());
  }

  @Test
  void countsCallsByServerToolAndOutcomeWithBoundedLabels() throws Exception {
    try (McpSyncClient ops = client(OPS_KEY, "tracker")) {
      // The server's tools/list answer names its tools: those become labels.
      ops.listTools();
      ops.callTool(new McpSchema.CallToolRequest("echo", Map.of("text", "hi"), null));
    }
    gateway.envoy.send(post("/mcp/tracker", OPS_KEY,
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"made_up_tool_123\"}}"));
    String m = gateway.metricsContaining("tool=\"other\"");
    assertTrue(m.contains("weir_mcp_requests_total{consumer=\"ops\",method=\"tools/call\",outcome=\"ok\",server=\"tracker\","
        + "tool=\"echo\"}"), m);
    assertFalse(m.contains("made_up_tool_123"));
    assertTrue(m.contains("tool=\"other\""));
  }

  static ExchangeRequest post(String path, String key, String json, String... headers) {
    String[] all = new String[headers.length + 4];
    all[0] = "authorization";
    all[1] = "Bearer " + key;
    all[2] = "accept";
    all[3] = "application/json, text/event-stream";
    System.arraycopy(headers, 0, all, 4, headers.length);
    return ExchangeRequest.post(path, json, all);
  }

  static HttpRequest mcpPost(String path, String key, String session, String json) {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path))
        .header("authorization", "Bearer " + key)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .POST(HttpRequest.BodyPublishers.ofString(json));
    if (session != null) {
      b.header("mcp-session-id", session);
    }
    return b.build();
  }
}
