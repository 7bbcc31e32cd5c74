package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpServer;
import dev.weir.config.ConfigLoader;
import dev.weir.extproc.identity.ScriptedOidc;
import dev.weir.extproc.openai.Json;
import dev.weir.testkit.ExchangeRequest;
import dev.weir.testkit.ExchangeResponse;
import io.modelcontextprotocol.client.McpClient;
import io.modelcontextprotocol.client.McpSyncClient;
import io.modelcontextprotocol.client.transport.HttpClientStreamableHttpTransport;
import io.modelcontextprotocol.spec.McpSchema;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * MCP authorization through the gateway: each MCP server is an OAuth 2.1 protected resource
 * (RFC 9728 metadata, 401 challenges naming it, RFC 8707 audiences), and the upstream gets the
 * gateway's own credential (a static key, or a client-credentials token it fetched and cached),
 * never the client's token.
 */
class McpOAuthTest {
  static final String RESOURCE = "https://gateway.example.com/mcp/tracker";
  static final String NOTES_RESOURCE = "https://gateway.example.com/mcp/notes";
  static final String METADATA = "https://gateway.example.com/.well-known/oauth-protected-resource/mcp/tracker";

  static ScriptedOidc oidc;
  static McpUpstream tracker;
  static McpUpstream notes;
  static HttpServer tokenEndpoint;
  static final Queue<String> tokenRequests = new ConcurrentLinkedQueue<>();
  static Gateway gateway;
  static String base;

  @BeforeAll
  static void start() throws Exception {
    oidc = new ScriptedOidc();
    tracker = McpUpstream.sessions();
    notes = McpUpstream.stateless();
    tokenEndpoint = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    tokenEndpoint.createContext("/token", ex -> {
      tokenRequests.add(new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8));
      byte[] body = ("{\"access_token\":\"notes-upstream-token-" + tokenRequests.size()
          + "\",\"token_type\":\"Bearer\",\"expires_in\":3600}").getBytes(StandardCharsets.UTF_8);
      ex.getResponseHeaders().set("content-type", "application/json");
      ex.sendResponseHeaders(200, body.length);
      ex.getResponseBody().write(body);
      ex.close();
    });
    tokenEndpoint.start();
    String yaml = """
        identityProviders:
          - name: corp
            issuer: %1$s
            audiences: [ "%2$s", "%3$s" ]
        mcpServers:
          - name: tracker
            url: %4$s
            credential: { key: { env: TRACKER_KEY } }
            oauth:
              resource: %2$s
              authorizationServers: [ "%1$s" ]
              scopes: [ "tools.read", "tools.call" ]
          - name: notes
            url: %5$s
            credential:
              clientCredentials:
                tokenUrl: http://127.0.0.1:%6$d/token
                clientId: weir-gateway
                clientSecret: { env: NOTES_CLIENT_SECRET }
                scope: notes.all
                resource: https://notes.internal
            oauth:
              resource: %3$s
              authorizationServers: [ "%1$s" ]
        consumers:
          - name: agents
            tokens: [ { provider: corp, claims: [ { claim: sub, values: [ user-1 ] } ] } ]
            mcp:
              - server: tracker
              - server: notes
        """.formatted(oidc.issuer(), RESOURCE, NOTES_RESOURCE, tracker.url(), notes.url(),
        tokenEndpoint.getAddress().getPort());
    Map<String, String> env = Map.of("TRACKER_KEY", "tracker-static-key", "NOTES_CLIENT_SECRET", "s3cret");
    gateway = new Gateway(new ConfigLoader(env::get, true).parse(yaml, "test", null), env);
    base = gateway.baseUrl().replace("/v1", "");
  }

  @AfterAll
  static void stop() throws Exception {
    gateway.close();
    tracker.close();
    notes.close();
    tokenEndpoint.stop(0);
    oidc.close();
  }

  static String token(String audience) throws Exception {
    return oidc.token(oidc.claims().audience(audience).build());
  }

  static McpSyncClient client(String token, String server) {
    var transport = HttpClientStreamableHttpTransport.builder(base).endpoint("/mcp/" + server)
        .httpRequestCustomizer((request, method, uri, body, context) -> request.header("Authorization", "Bearer " + token))
        .build();
    McpSyncClient client = McpClient.sync(transport).requestTimeout(Duration.ofSeconds(10)).build();
    client.initialize();
    return client;
  }

  static ExchangeRequest listTools(String path, String... headers) {
    return ExchangeRequest.post(path, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}", headers);
  }

  @Test
  void answersAnUnauthenticatedRequestWith401NamingTheMetadata() {
    String probe = java.util.UUID.randomUUID().toString();
    ExchangeResponse r = gateway.envoy.send(listTools("/mcp/tracker", "x-probe", probe));
    assertEquals(401, r.status());
    assertEquals("Bearer resource_metadata=\"" + METADATA + "\", scope=\"tools.read tools.call\"",
        r.header("www-authenticate"));
    assertTrue(tracker.received().stream().noneMatch(h -> probe.equals(h.get("x-probe"))),
        "the request never reached the server");
  }

  @Test
  void servesTheProtectedResourceMetadata() throws Exception {
    ExchangeResponse r = gateway.envoy.send(ExchangeRequest.get("/.well-known/oauth-protected-resource/mcp/tracker"));
    assertEquals(200, r.status());
    assertTrue(r.header("content-type").startsWith("application/json"));
    JsonNode doc = Json.MAPPER.readTree(r.body());
    assertEquals(RESOURCE, doc.get("resource").asText());
    assertEquals(List.of(oidc.issuer()), List.of(doc.get("authorization_servers").get(0).asText()));
    assertEquals("tools.read", doc.at("/scopes_supported/0").asText());
    assertEquals("header", doc.at("/bearer_methods_supported/0").asText());
  }

  @Test
  void refusesATokenIssuedForAnotherResource() throws Exception {
    // Valid signature, issuer and a gateway audience, but for the notes server, not the tracker.
    ExchangeResponse r = gateway.envoy.send(listTools("/mcp/tracker", "authorization", "Bearer " + token(NOTES_RESOURCE)));
    assertEquals(401, r.status());
    assertTrue(r.header("www-authenticate").contains("error=\"invalid_token\""), r.header("www-authenticate"));
    assertTrue(r.bodyText().contains(RESOURCE), r.bodyText());
    assertThrows(RuntimeException.class, () -> client(token(NOTES_RESOURCE), "tracker"));
  }

  @Test
  void neverForwardsTheClientsTokenUpstream() throws Exception {
    String clientToken = token(RESOURCE);
    int before = tracker.received().size();
    try (McpSyncClient c = client(clientToken, "tracker")) {
      assertEquals("get_issue done: 7", ((McpSchema.TextContent) c.callTool(
          new McpSchema.CallToolRequest("get_issue", Map.of("text", "7"), null)).content().get(0)).text());
    }
    var seen = tracker.received().subList(before, tracker.received().size());
    assertFalse(seen.isEmpty());
    for (Map<String, String> h : seen) {
      assertEquals("Bearer tracker-static-key", h.get("authorization"));
      assertFalse(h.values().stream().anyMatch(v -> v.contains(clientToken)), "the client's token reached the server");
    }
  }

  @Test
  void sendsAClientCredentialsTokenFetchedOnceAndCached() throws Exception {
    String clientToken = token(NOTES_RESOURCE);
    int before = notes.received().size();
    try (McpSyncClient c = client(clientToken, "notes")) {
      c.callTool(new McpSchema.CallToolRequest("search_notes", Map.of("text", "a"), null));
      c.callTool(new McpSchema.CallToolRequest("search_notes", Map.of("text", "b"), null));
    }
    var seen = notes.received().subList(before, notes.received().size());
    assertTrue(seen.size() >= 3);
    for (Map<String, String> h : seen) {
      assertEquals("Bearer notes-upstream-token-1", h.get("authorization"));
    }
    assertEquals(1, tokenRequests.size());
    String form = tokenRequests.peek();
    assertTrue(form.contains("grant_type=client_credentials") && form.contains("client_id=weir-gateway")
        && form.contains("client_secret=s3cret") && form.contains("scope=notes.all")
        && form.contains("resource=https%3A%2F%2Fnotes.internal"), form);
  }
}
