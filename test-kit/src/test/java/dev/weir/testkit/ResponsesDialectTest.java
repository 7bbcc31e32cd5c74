package dev.weir.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The scripted upstream's Responses API over real HTTP, on OpenAI's path and on Azure's v1 path. */
class ResponsesDialectTest {
  static final ObjectMapper JSON = new ObjectMapper();
  static ScriptedUpstream upstream;

  @BeforeAll
  static void start() throws Exception {
    upstream = new ScriptedUpstream("up");
  }

  @AfterAll
  static void stop() {
    upstream.close();
  }

  static HttpResponse<String> post(String path, String body) throws Exception {
    return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(upstream.url() + path))
        .POST(HttpRequest.BodyPublishers.ofString(body)).header("content-type", "application/json").build(),
        HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void answersAResponseWithUsageAndItsDetails() throws Exception {
    HttpResponse<String> r = post("/v1/responses", "{\"model\":\"gpt-4o\",\"instructions\":\"Be brief.\",\"input\":\"hi\"}");
    assertEquals(200, r.statusCode(), r.body());
    JsonNode response = JSON.readTree(r.body());
    assertEquals("response", response.path("object").asText());
    assertEquals("Be brief.", response.path("instructions").asText());
    assertEquals("Hello from up!", response.path("output").get(0).path("content").get(0).path("text").asText());
    JsonNode usage = response.path("usage");
    assertEquals(ResponsesDialect.INPUT_TOKENS, usage.path("input_tokens").asInt());
    assertEquals(ResponsesDialect.CACHED_TOKENS, usage.path("input_tokens_details").path("cached_tokens").asInt());
    assertEquals(ResponsesDialect.REASONING_TOKENS, usage.path("output_tokens_details").path("reasoning_tokens").asInt());
    assertEquals(usage.path("input_tokens").asInt() + usage.path("output_tokens").asInt(), usage.path("total_tokens").asInt());
  }

  @Test
  void streamsTypedEventsEndingWithResponseCompleted() throws Exception {
    HttpResponse<String> r = post("/openai/v1/responses", "{\"model\":\"gpt-4o-ptu\",\"input\":\"hi\",\"stream\":true}");
    assertEquals(200, r.statusCode());
    assertTrue(r.headers().firstValue("content-type").orElse("").startsWith("text/event-stream"));
    List<JsonNode> events = new ArrayList<>();
    StringBuilder text = new StringBuilder();
    for (String block : r.body().split("\n\n")) {
      String[] lines = block.split("\n");
      JsonNode data = JSON.readTree(lines[1].substring("data: ".length()));
      assertEquals("event: " + data.path("type").asText(), lines[0], "the event line names the data's type");
      events.add(data);
      if (data.path("type").asText().equals("response.output_text.delta")) {
        text.append(data.path("delta").asText());
      }
    }
    assertEquals("response.created", events.get(0).path("type").asText());
    JsonNode last = events.get(events.size() - 1);
    assertEquals("response.completed", last.path("type").asText());
    assertEquals("Hello from up!", text.toString());
    assertEquals(ResponsesDialect.INPUT_TOKENS, last.path("response").path("usage").path("input_tokens").asInt());
    for (int i = 0; i < events.size(); i++) {
      assertEquals(i, events.get(i).path("sequence_number").asInt());
    }
  }

  @Test
  void refusesChatCompletionFieldsAsTheRealApiDoes() throws Exception {
    HttpResponse<String> r = post("/v1/responses", "{\"model\":\"gpt-4o\",\"input\":\"hi\",\"max_tokens\":5}");
    assertEquals(400, r.statusCode());
    assertTrue(JSON.readTree(r.body()).path("error").path("message").asText().contains("max_tokens"));
  }
}
