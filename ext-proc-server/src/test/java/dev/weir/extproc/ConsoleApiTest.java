package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.weir.config.ApiKeys;
import dev.weir.extproc.openai.Json;
import dev.weir.testkit.RedisServerProcess;
import dev.weir.testkit.ScriptedUpstream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The console's HTTP surface without a browser: what is open, what needs the token, what the forwarder refuses. */
class ConsoleApiTest {
  static final String TOKEN = "console-api-test-token";
  final HttpClient http = HttpClient.newHttpClient();
  ScriptedUpstream upstream;
  Gateway gw;
  String base;

  @BeforeEach
  void start() throws Exception {
    upstream = new ScriptedUpstream("up");
    int nothingListens = RedisServerProcess.freePort();
    gw = new Gateway("""
        backends: [ { name: up, provider: openai-compatible, url: UPSTREAM } ]
        pools: [ { name: p, members: [ { backend: up } ] } ]
        models: [ { name: m, pool: p } ]
        consumers: [ { name: team, keys: [ "%s" ], models: [ "*" ] } ]
        security: { adminToken: { env: ADMIN } }
        controlPlaneAdminUrl: "http://127.0.0.1:%d"
        """.formatted(ApiKeys.hash("sk-team"), nothingListens), upstream, Map.of("ADMIN", TOKEN));
    base = "http://127.0.0.1:" + gw.server.adminPort();
  }

  @AfterEach
  void stop() {
    gw.close();
    upstream.close();
  }

  HttpResponse<String> get(String path, String... headers) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path));
    for (int i = 0; i < headers.length; i += 2) {
      b.header(headers[i], headers[i + 1]);
    }
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  HttpResponse<String> post(String path) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create(base + path)).POST(HttpRequest.BodyPublishers.noBody())
        .header("Authorization", "Bearer " + TOKEN).build(), HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void theConsoleFilesAreOpenAndCarryNoData() throws Exception {
    HttpResponse<String> page = get("/console/");
    assertEquals(200, page.statusCode());
    assertTrue(page.body().contains("<script src=\"/console/console.js\" defer>"), page.body());
    assertTrue(page.headers().firstValue("content-security-policy").orElse("").contains("default-src 'self'"));
    assertEquals(200, get("/console/lib/uPlot.iife.min.js").statusCode());
    assertEquals(404, get("/console/lib/uPlot.esm.js").statusCode(), "only the listed files are served");
  }

  @Test
  void theConsoleDataNeedsTheAdminTokenEvenOnLoopback() throws Exception {
    for (String path : new String[] {"/console/api/overview", "/console/api/consumers", "/console/api/backends"}) {
      assertEquals(401, get(path).statusCode(), path);
      assertEquals(401, get(path, "Authorization", "Bearer wrong").statusCode(), path);
      assertEquals(200, get(path, "Authorization", "Bearer " + TOKEN).statusCode(), path);
    }
  }

  @Test
  void anUnreachableControlPlaneIsShownAsSuchAndDrainStateIsUnknown() throws Exception {
    JsonNode page = Json.MAPPER.readTree(get("/console/api/backends", "Authorization", "Bearer " + TOKEN).body());
    assertEquals(false, page.path("controlPlane").path("reachable").asBoolean());
    assertTrue(page.path("controlPlane").path("error").asText().contains("cannot be reached"), page.toString());
    JsonNode member = page.path("pools").get(0).path("members").get(0);
    assertTrue(member.path("drained").isNull(), member.toString());
    assertEquals("idle", member.path("health").asText());
    assertEquals(502, post("/console/api/backends/up/drain").statusCode());
  }

  @Test
  void theForwarderOnlyDrainsOrUndrainsConfiguredBackends() throws Exception {
    assertEquals(404, post("/console/api/backends/nope/drain").statusCode());
    assertEquals(404, post("/console/api/backends/up/weight").statusCode());
    assertEquals(404, post("/console/api/backends/up/drain/more").statusCode());
    HttpResponse<String> unauthenticated = http.send(HttpRequest.newBuilder(URI.create(base
        + "/console/api/backends/up/drain")).POST(HttpRequest.BodyPublishers.noBody()).build(),
        HttpResponse.BodyHandlers.ofString());
    assertEquals(401, unauthenticated.statusCode());
    HttpResponse<String> crossSite = http.send(HttpRequest.newBuilder(URI.create(base
        + "/console/api/backends/up/drain")).POST(HttpRequest.BodyPublishers.noBody())
        .header("Authorization", "Bearer " + TOKEN).header("Origin", "https://evil.example").build(),
        HttpResponse.BodyHandlers.ofString());
    assertEquals(403, crossSite.statusCode());
  }
}
