package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.weir.config.ApiKeys;
import dev.weir.events.v1.UsageEvent;
import dev.weir.testkit.RedisServerProcess;
import dev.weir.testkit.ScriptedUpstream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Chargeback across three ext-proc replicas sharing one real Redis: /usage on any replica totals
 * exactly the usage events all three published (served, cached and refused exchanges alike), and
 * {@code ext-proc-server usage} prints the same report.
 */
class UsageAcrossReplicasIT {
  static final String YAML = """
      backends: [ { name: up, provider: openai-compatible, url: UPSTREAM } ]
      pools: [ { name: p, members: [ { backend: up } ] } ]
      models:
        - { name: gpt-4o, pool: p, price: { inputPerMillion: 2.5, outputPerMillion: 10, cachedInputPerMillion: 1.25 } }
        - { name: mini, pool: p, price: { inputPerMillion: 0.15, outputPerMillion: 0.6 } }
      policies: { cache: { tiers: [ exact ] } }
      limits: [ { name: few, requestsPerMinute: 4 } ]
      consumers:
        - { name: team, keys: [ "%s" ], models: [ "*" ] }
        - { name: small, keys: [ "%s" ], models: [ "*" ], limits: [ few ] }
      redis: { uri: "REDIS" }
      security: { adminToken: { env: ADMIN_TOKEN } }
      """.formatted(ApiKeys.hash("sk-team"), ApiKeys.hash("sk-small"));
  static final Map<String, String> ENV = Map.of("ADMIN_TOKEN", "admin-secret");
  static final ObjectMapper JSON = new ObjectMapper();

  RedisServerProcess redis;
  ScriptedUpstream upstream;
  List<Gateway> replicas = new ArrayList<>();

  @BeforeEach
  void start() throws Exception {
    redis = new RedisServerProcess();
    upstream = new ScriptedUpstream("up");
    for (int i = 0; i < 3; i++) {
      replicas.add(new Gateway(YAML.replace("REDIS", redis.uri()), upstream, ENV));
    }
  }

  @AfterEach
  void stop() throws Exception {
    replicas.forEach(Gateway::close);
    upstream.close();
    redis.close();
  }

  static String chat(String model, String prompt) {
    return "{\"model\":\"" + model + "\",\"temperature\":0,\"messages\":[{\"role\":\"user\",\"content\":\"" + prompt + "\"}]}";
  }

  JsonNode usage(Gateway g, String query) throws Exception {
    HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(
        "http://127.0.0.1:" + g.server.adminPort() + "/usage?" + query)).header("Authorization", "Bearer admin-secret")
        .build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(200, r.statusCode(), r.body());
    return JSON.readTree(r.body());
  }

  List<UsageEvent> allEvents() {
    List<UsageEvent> all = new ArrayList<>();
    replicas.forEach(g -> all.addAll(g.server.runtime().telemetry().recent().newest(1000, null, null)));
    return all;
  }

  @Test
  void usageOnAnyReplicaTotalsTheEventsOfAllThree() throws Exception {
    int sent = 0;
    for (int i = 0; i < 12; i++) {
      Gateway g = replicas.get(i % 3);
      String model = i % 2 == 0 ? "gpt-4o" : "mini";
      // Every third prompt repeats: cache hits, served by whichever replica gets them.
      g.chat("sk-team", chat(model, "question " + (i % 4)));
      g.chat("sk-small", chat(model, "small " + i));
      sent += 2;
    }
    for (int i = 0; i < 300 && allEvents().size() < sent; i++) {
      Thread.sleep(10);
    }
    List<UsageEvent> events = allEvents();
    assertEquals(sent, events.size());
    assertTrue(events.stream().anyMatch(e -> e.getOutcome().equals("cached")), "some were cache hits");
    assertTrue(events.stream().anyMatch(e -> e.getOutcome().equals("limited")), "some were refused by the limit");

    long requests = events.size();
    long prompt = events.stream().mapToLong(UsageEvent::getPromptTokens).sum();
    long completion = events.stream().mapToLong(UsageEvent::getCompletionTokens).sum();
    long costMicros = events.stream().mapToLong(e -> Math.round(e.getCostUsd() * 1e6)).sum();
    long savedMicros = events.stream().mapToLong(e -> Math.round(e.getCachedSavingsUsd() * 1e6)).sum();
    long cached = events.stream().filter(e -> e.getOutcome().equals("cached")).count();
    JsonNode totals = null;
    for (int i = 0; i < 100; i++) {
      // The adds are asynchronous (pipelined HINCRBYs): wait until Redis has them all.
      totals = usage(replicas.get(i % 3), "groupBy=consumer,model").path("totals");
      if (totals.path("requests").asLong() == requests) {
        break;
      }
      Thread.sleep(20);
    }
    for (Gateway g : replicas) {
      totals = usage(g, "groupBy=consumer,model").path("totals");
      assertEquals(requests, totals.path("requests").asLong());
      assertEquals(prompt, totals.path("promptTokens").asLong());
      assertEquals(completion, totals.path("completionTokens").asLong());
      assertEquals(costMicros / 1e6, totals.path("cost").asDouble(), 1e-9);
      assertEquals(savedMicros / 1e6, totals.path("cachedSavings").asDouble(), 1e-9);
      assertEquals(cached, totals.path("cachedRequests").asLong());
    }
    assertTrue(savedMicros > 0);
    JsonNode byConsumer = usage(replicas.get(0), "groupBy=consumer").path("rows");
    assertEquals(2, byConsumer.size());
    assertEquals(events.stream().filter(e -> e.getConsumer().equals("small")).count(),
        byConsumer.get(0).path("requests").asLong());

    Path config = Files.createTempFile("weir-usage", ".yaml");
    try {
      Files.writeString(config, YAML.replace("REDIS", redis.uri()).replace("UPSTREAM", upstream.url()));
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      ByteArrayOutputStream err = new ByteArrayOutputStream();
      int code = dev.weir.extproc.usage.UsageCommand.run(new String[] {"--config", config.toString(),
          "--group-by", "consumer", "--format", "csv", "--admin-url", "http://127.0.0.1:" + replicas.get(2).server.adminPort()},
          ENV::get, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
      assertEquals(0, code, err.toString(StandardCharsets.UTF_8));
      String csv = out.toString(StandardCharsets.UTF_8);
      assertTrue(csv.startsWith("consumer,requests,promptTokens,"), csv);
      long csvRequests = csv.lines().skip(1).mapToLong(l -> Long.parseLong(l.split(",")[1])).sum();
      assertEquals(requests, csvRequests);
    } finally {
      Files.deleteIfExists(config);
    }
  }
}
