package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import dev.weir.config.ConfigLoader;
import dev.weir.extproc.identity.ScriptedOidc;
import dev.weir.testkit.ExchangeRequest;
import dev.weir.testkit.ScriptedUpstream;
import io.modelcontextprotocol.client.McpClient;
import io.modelcontextprotocol.client.McpSyncClient;
import io.modelcontextprotocol.client.transport.HttpClientStreamableHttpTransport;
import io.modelcontextprotocol.spec.McpError;
import io.modelcontextprotocol.spec.McpSchema;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * docs/mcp.md shows examples/mcp.yaml verbatim, and that config serves MCP clients: with the
 * scripted identity provider, token endpoint, SDK-built MCP server and tickets API in place of the
 * example's hosts.
 */
class McpDocExampleTest {
  private static final Path DOC = Path.of("..", "docs", "mcp.md");
  private static final Path EXAMPLE = Path.of("..", "examples", "mcp.yaml");
  private static final String AGENT_KEY = "sk-weir-support-agent-demo";

  static ScriptedOidc oidc;
  static McpUpstream tracker;
  static ScriptedUpstream tickets;
  static HttpServer tokens;
  static Gateway gateway;
  static String base;

  @BeforeAll
  static void start() throws Exception {
    oidc = new ScriptedOidc();
    tracker = McpUpstream.sessions();
    tickets = new ScriptedUpstream("tickets");
    tokens = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    tokens.createContext("/oauth2/token", ex -> {
      byte[] body = "{\"access_token\":\"tracker-token-from-idp\",\"expires_in\":3600}".getBytes(StandardCharsets.UTF_8);
      ex.sendResponseHeaders(200, body.length);
      ex.getResponseBody().write(body);
      ex.close();
    });
    tokens.start();
    String yaml = Files.readString(EXAMPLE)
        .replace("https://login.example.com/oauth2/token", "http://127.0.0.1:" + tokens.getAddress().getPort() + "/oauth2/token")
        .replace("https://login.example.com", oidc.issuer())
        .replace("https://tracker.example.com/mcp", tracker.url())
        .replace("https://tickets.example.com", tickets.url());
    Map<String, String> env = Map.of("TRACKER_CLIENT_SECRET", "s", "TICKETS_API_KEY", "k");
    gateway = new Gateway(new ConfigLoader(env::get, true).parse(yaml, "mcp.yaml", EXAMPLE.toAbsolutePath().getParent()),
        env);
    base = gateway.baseUrl().replace("/v1", "");
  }

  @AfterAll
  static void stop() throws Exception {
    gateway.close();
    tracker.close();
    tickets.close();
    tokens.stop(0);
    oidc.close();
  }

  static McpSyncClient client(String bearer, String server) {
    var transport = HttpClientStreamableHttpTransport.builder(base).endpoint("/mcp/" + server)
        .httpRequestCustomizer((request, method, uri, body, context) -> request.header("Authorization", "Bearer " + bearer))
        .build();
    McpSyncClient client = McpClient.sync(transport).requestTimeout(Duration.ofSeconds(10)).build();
    client.initialize();
    return client;
  }

  static Set<String> tools(McpSyncClient c) {
    return c.listTools().tools().stream().map(McpSchema.Tool::name).collect(Collectors.toSet());
  }

  @Test
  void theDocShowsTheExampleFileVerbatim() throws Exception {
    assertTrue(Files.readString(DOC).contains("```yaml\n" + Files.readString(EXAMPLE) + "```"),
        "docs/mcp.md shows examples/mcp.yaml verbatim");
  }

  @Test
  void theSupportAgentSeesAndCallsOnlyItsTools() {
    try (McpSyncClient c = client(AGENT_KEY, "tracker")) {
      assertEquals(Set.of("search_issues", "get_issue"), tools(c));
      c.callTool(new McpSchema.CallToolRequest("get_issue", Map.of("text", "1"), null));
      assertThrows(McpError.class, () -> c.callTool(new McpSchema.CallToolRequest("echo", Map.of(), null)));
    }
    assertEquals("Bearer tracker-token-from-idp", tracker.received().get(tracker.received().size() - 1).get("authorization"));
    try (McpSyncClient c = client(AGENT_KEY, "tickets")) {
      assertEquals(Set.of("listTickets", "getTicket"), tools(c));
      var ticket = c.callTool(new McpSchema.CallToolRequest("getTicket", Map.of("id", 2), null));
      assertTrue(((McpSchema.TextContent) ticket.content().get(0)).text().contains("Coffee machine empty"));
    }
    assertEquals("k", tickets.last().header("x-api-key"));
  }

  @Test
  void opsAgentsComeWithTokensForTheTracker() throws Exception {
    var unauthenticated = gateway.envoy.send(ExchangeRequest.post("/mcp/tracker",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}"));
    assertEquals(401, unauthenticated.status());
    assertTrue(unauthenticated.header("www-authenticate").contains(
        "https://gateway.example.com/.well-known/oauth-protected-resource/mcp/tracker"));
    String token = oidc.token(oidc.claims().audience("https://gateway.example.com/mcp/tracker")
        .claim("roles", List.of("mcp.ops")).build());
    try (McpSyncClient c = client(token, "tracker")) {
      assertEquals(Set.of("search_issues", "get_issue", "slow_report", "echo"), tools(c));
    }
  }
}
