package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.weir.extproc.telemetry.OtlpReceiver;
import dev.weir.testkit.ExchangeRequest;
import dev.weir.testkit.ScriptedUpstream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** docs/observability.md's example is the shipped file, and it records what the page says. */
class ObservabilityExampleTest {
  private static final Path EXAMPLE = Path.of("..", "examples", "observability.yaml");
  static final ObjectMapper JSON = new ObjectMapper();

  @Test
  void observabilityPageShowsTheExampleFileVerbatim() throws Exception {
    String page = Files.readString(Path.of("..", "docs", "observability.md"));
    assertTrue(page.contains("```yaml\n" + Files.readString(EXAMPLE) + "```"),
        "docs/observability.md's example must be examples/observability.yaml exactly");
  }

  @Test
  void theExampleWritesEventsToTheFileAndOtlpTracesSampledExchangesAndReportsUsage(@TempDir Path dir)
      throws Exception {
    Path events = dir.resolve("events.jsonl");
    try (OtlpReceiver receiver = new OtlpReceiver(); ScriptedUpstream upstream = new ScriptedUpstream("openai")) {
      String yaml = Files.readString(EXAMPLE).replace("https://api.openai.com", "UPSTREAM")
          .replace("http://127.0.0.1:4318", receiver.url()).replace("/var/log/weir/events.jsonl", events.toString());
      Map<String, String> env = Map.of("OPENAI_API_KEY", "sk-openai", "WEIR_ADMIN_TOKEN", "admin-secret");
      try (Gateway gw = new Gateway(yaml, upstream, env)) {
        String body = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
        assertEquals(200, gw.envoy.send(ExchangeRequest.post("/v1/chat/completions", body,
            "authorization", "Bearer sk-weir-finance-demo",
            "traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")).status());
        assertEquals(403, gw.chat("sk-weir-support-demo", body).status(), "support may use gpt-4o-mini only");

        List<String> lines = List.of();
        for (int i = 0; i < 300 && lines.size() < 2; i++) {
          Thread.sleep(10);
          lines = Files.exists(events) ? Files.readAllLines(events) : List.of();
        }
        assertEquals(2, lines.size(), "one JSON line per exchange");
        JsonNode served = JSON.readTree(lines.get(0));
        assertEquals("finance", served.path("consumer").asText());
        assertEquals("served", served.path("outcome").asText());
        assertEquals("0af7651916cd43dd8448eb211c80319c", served.path("traceId").asText());
        assertEquals("model_not_allowed", JSON.readTree(lines.get(1)).path("errorCode").asText());
        assertEquals(2, receiver.logsOnce(l -> l.size() >= 2).size());
        assertTrue(receiver.spansOnce(s -> s.stream().anyMatch(x -> x.getName().equals("chat gpt-4o"))).stream()
            .anyMatch(x -> x.getName().equals("chat gpt-4o")), "Envoy sampled the trace, so it is recorded");

        HttpResponse<String> usage = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(
            "http://127.0.0.1:" + gw.server.adminPort() + "/usage?groupBy=consumer"))
            .header("Authorization", "Bearer admin-secret").build(), HttpResponse.BodyHandlers.ofString());
        JsonNode rows = JSON.readTree(usage.body()).path("rows");
        assertEquals(2, rows.size(), usage.body());
        assertEquals("finance", rows.get(0).path("consumer").asText());
        assertEquals((12 * 2.5 + 5 * 10) / 1e6, rows.get(0).path("cost").asDouble(), 1e-12);
      }
    }
  }
}
