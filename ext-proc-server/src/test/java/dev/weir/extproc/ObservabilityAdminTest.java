package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.weir.config.ApiKeys;
import dev.weir.testkit.ScriptedUpstream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** GET /usage and GET /events on the admin port: their shapes, filters, errors and the admin token. */
class ObservabilityAdminTest {
  static final String CONFIG = """
      backends: [ { name: local, provider: openai-compatible, url: UPSTREAM } ]
      pools: [ { name: p, members: [ { backend: local } ] } ]
      models:
        - { name: gpt-4o, pool: p, price: { inputPerMillion: 2.5, outputPerMillion: 10 } }
        - { name: mini, pool: p }
      consumers:
        - { name: team, keys: [ "%s" ], models: [ "*" ] }
        - { name: other, keys: [ "%s" ], models: [ "*" ] }
      security: { adminToken: { env: ADMIN_TOKEN } }
      """.formatted(ApiKeys.hash("sk-team"), ApiKeys.hash("sk-other"));
  static final String CHAT = "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  static final ObjectMapper JSON = new ObjectMapper();
  static final HttpClient HTTP = HttpClient.newHttpClient();

  ScriptedUpstream upstream;
  Gateway gw;

  @BeforeEach
  void start() throws Exception {
    upstream = new ScriptedUpstream("up");
    gw = new Gateway(CONFIG, upstream, Map.of("ADMIN_TOKEN", "admin-secret"));
  }

  @AfterEach
  void stop() {
    gw.close();
    upstream.close();
  }

  HttpResponse<String> get(String pathAndQuery, String token) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + gw.server.adminPort() + pathAndQuery));
    if (token != null) {
      b.header("Authorization", "Bearer " + token);
    }
    return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  /** Waits until this many events were recorded (an exchange publishes when its stream ends). */
  JsonNode eventsOnceThereAre(int n, String query) throws Exception {
    JsonNode events = JSON.readTree(get("/events?limit=1000" + query, "admin-secret").body());
    for (int i = 0; i < 200 && events.size() < n; i++) {
      Thread.sleep(10);
      events = JSON.readTree(get("/events?limit=1000" + query, "admin-secret").body());
    }
    return events;
  }

  @Test
  void usageAndEventsNeedTheAdminTokenWhenOneIsConfiguredEvenOnLoopback() throws Exception {
    assertEquals(401, get("/usage", null).statusCode());
    assertEquals(401, get("/events", "wrong").statusCode());
    assertEquals(200, get("/usage", "admin-secret").statusCode());
    assertEquals(200, get("/events", "admin-secret").statusCode());
    assertEquals(200, get("/healthz", null).statusCode(), "probes stay open");
  }

  @Test
  void eventsAreNewestFirstAndFilterByConsumerAndOutcome() throws Exception {
    assertEquals(200, gw.chat("sk-team", CHAT.formatted("gpt-4o")).status());
    assertEquals(200, gw.chat("sk-other", CHAT.formatted("mini")).status());
    assertEquals(404, gw.chat("sk-team", CHAT.formatted("no-such-model")).status());
    JsonNode all = eventsOnceThereAre(3, "");
    assertEquals(3, all.size(), all.toString());
    assertEquals("no-such-model", all.get(0).path("modelRequested").asText(), "newest first");
    assertEquals("error", all.get(0).path("outcome").asText());
    assertEquals("model_not_found", all.get(0).path("errorCode").asText());
    assertEquals("gpt-4o", all.get(2).path("modelRequested").asText());
    JsonNode team = JSON.readTree(get("/events?consumer=team&outcome=served", "admin-secret").body());
    assertEquals(1, team.size(), team.toString());
    assertEquals("gpt-4o", team.get(0).path("modelRequested").asText());
    assertEquals(1, JSON.readTree(get("/events?limit=1", "admin-secret").body()).size());
    assertEquals(400, get("/events?limit=0", "admin-secret").statusCode());
    assertEquals(400, get("/events?limit=lots", "admin-secret").statusCode());
  }

  @Test
  void usageGroupsByConsumerModelAndDayAsJsonAndCsv() throws Exception {
    for (int i = 0; i < 2; i++) {
      assertEquals(200, gw.chat("sk-team", CHAT.formatted("gpt-4o")).status());
    }
    assertEquals(200, gw.chat("sk-other", CHAT.formatted("mini")).status());
    eventsOnceThereAre(3, "");
    String today = LocalDate.now(ZoneOffset.UTC).toString();
    JsonNode report = JSON.readTree(get("/usage?from=" + today + "&to=" + today + "&groupBy=consumer,model,day",
        "admin-secret").body());
    assertEquals(today, report.path("from").asText());
    assertEquals("[\"consumer\",\"model\",\"day\"]", report.path("groupBy").toString());
    JsonNode rows = report.path("rows");
    assertEquals(2, rows.size(), report.toString());
    JsonNode other = rows.get(0);
    assertEquals("other", other.path("consumer").asText());
    assertEquals("mini", other.path("model").asText());
    assertEquals(today, other.path("day").asText());
    assertEquals(1, other.path("requests").asLong());
    JsonNode team = rows.get(1);
    assertEquals(2, team.path("requests").asLong());
    assertEquals(24, team.path("promptTokens").asLong(), "the scripted backend reports 12 prompt tokens");
    assertEquals(10, team.path("completionTokens").asLong());
    // 2 × (12 × 2.5 + 5 × 10) micro-dollars
    assertEquals(0.00016, team.path("cost").asDouble(), 1e-12);
    assertEquals(3, report.path("totals").path("requests").asLong());
    assertEquals(36, report.path("totals").path("promptTokens").asLong());

    HttpResponse<String> csv = get("/usage?groupBy=consumer&format=csv", "admin-secret");
    assertTrue(csv.headers().firstValue("content-type").orElse("").startsWith("text/csv"));
    assertEquals("consumer,requests,promptTokens,completionTokens,cachedTokens,reasoningTokens,cost,cachedSavings,"
        + "cachedRequests\r\nother,1,12,5,0,0,0,0,0\r\nteam,2,24,10,0,0,0.00016,0,0\r\n", csv.body());
  }

  @Test
  void modelListingIsCountedUnderNoneRatherThanAnEmptyModel() throws Exception {
    assertEquals(200, gw.envoy.send(dev.weir.testkit.ExchangeRequest.get("/v1/models",
        "authorization", "Bearer sk-team")).status());
    assertEquals(200, gw.chat("sk-team", CHAT.formatted("gpt-4o")).status());
    eventsOnceThereAre(2, "");
    JsonNode rows = JSON.readTree(get("/usage", "admin-secret").body()).path("rows");
    assertEquals(2, rows.size(), rows.toString());
    assertEquals("(none)", rows.get(0).path("model").asText(), "sorted before gpt-4o");
    assertEquals(1, rows.get(0).path("requests").asLong());
    assertEquals(0, rows.get(0).path("promptTokens").asLong());
    assertEquals("gpt-4o", rows.get(1).path("model").asText());
  }

  @Test
  void badUsageQueriesAreRefusedWithTheReason() throws Exception {
    HttpResponse<String> r = get("/usage?groupBy=consumer,colour", "admin-secret");
    assertEquals(400, r.statusCode());
    assertTrue(r.body().contains("unknown dimension \"colour\""), r.body());
    assertEquals(400, get("/usage?from=2026-13-01", "admin-secret").statusCode());
    assertEquals(400, get("/usage?from=2026-02-01&to=2026-01-01", "admin-secret").statusCode());
    assertEquals(400, get("/usage?format=xml", "admin-secret").statusCode());
    assertEquals(400, get("/usage?from=2020-01-01&to=2026-01-01", "admin-secret").statusCode());
  }
}
