package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.weir.testkit.ExchangeRequest;
import dev.weir.testkit.ExchangeResponse;
import dev.weir.testkit.ScriptedUpstream;
import java.nio.file.Path;
import dev.weir.testkit.TestEnvoy;
import dev.weir.xds.EnvoyResources;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bad requests get a clear OpenAI-shaped error, never reach a backend, and never hang a stream. */
class BadInputTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int LIMIT = 64 * 1024;
  @TempDir static Path dir;
  static GatewayFixture gw;

  @BeforeAll
  static void start() throws Exception {
    gw = new GatewayFixture(dir, LIMIT);
  }

  @AfterAll
  static void stop() {
    gw.close();
  }

  @BeforeEach
  void reset() {
    gw.azure.reset();
    gw.openai.reset();
  }

  private static ExchangeResponse post(String path, String body) {
    return gw.envoy.send(ExchangeRequest.post(path, body, "authorization", "Bearer " + GatewayFixture.FINANCE_KEY));
  }

  private static JsonNode error(ExchangeResponse r) throws Exception {
    assertEquals("application/json", r.header("content-type"));
    return JSON.readTree(r.body()).path("error");
  }

  private static void assertRejected(ExchangeResponse r, int status, String code) throws Exception {
    assertEquals(status, r.status(), r.toString());
    JsonNode e = error(r);
    assertEquals(code, e.path("code").asText(), r.toString());
    assertTrue(e.path("message").asText().length() > 10, "a message a person can act on");
    assertTrue(gw.azure.received().isEmpty() && gw.openai.received().isEmpty(), "no backend was called");
  }

  @Test
  void malformedJsonIs400WithWhereItBroke() throws Exception {
    ExchangeResponse r = post("/v1/chat/completions", "{\"model\": \"gpt-4o\", \"messages\": [");
    assertRejected(r, 400, "invalid_json");
    assertTrue(error(r).path("message").asText().contains("line 1"), r.bodyText());
  }

  @Test
  void bodyThatIsNotAnObjectIs400() throws Exception {
    assertRejected(post("/v1/chat/completions", "[1,2,3]"), 400, "invalid_json");
  }

  @Test
  void missingModelIs400() throws Exception {
    assertRejected(post("/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"),
        400, "missing_model");
  }

  @Test
  void emptyMessagesIs400() throws Exception {
    assertRejected(post("/v1/chat/completions", "{\"model\":\"gpt-4o\",\"messages\":[]}"), 400, "empty_messages");
  }

  @Test
  void messageWithoutRoleIs400() throws Exception {
    assertRejected(post("/v1/chat/completions", "{\"model\":\"gpt-4o\",\"messages\":[{\"content\":\"x\"}]}"),
        400, "invalid_messages");
  }

  @Test
  void streamOnEmbeddingsIs400() throws Exception {
    assertRejected(post("/v1/embeddings", "{\"model\":\"text-embedding-3-small\",\"input\":\"x\",\"stream\":true}"),
        400, "invalid_stream");
  }

  @Test
  void emptyBodyIs400() throws Exception {
    ExchangeResponse r = gw.envoy.send(new ExchangeRequest("POST", "/v1/chat/completions",
        dev.weir.testkit.HeaderList.of("authorization", "Bearer " + GatewayFixture.FINANCE_KEY), new byte[0]));
    assertRejected(r, 400, "missing_body");
  }

  @Test
  void bodyOverTheConfiguredLimitIs413() throws Exception {
    String big = "x".repeat(LIMIT);
    ExchangeResponse r = post("/v1/chat/completions",
        "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"" + big + "\"}]}");
    assertRejected(r, 413, "request_too_large");
    assertTrue(error(r).path("message").asText().contains("at most " + LIMIT), r.bodyText());
  }

  @Test
  void bodyBetweenTheGrpcMessageSizeAndEnvoysBufferIs413NotA500() throws Exception {
    // Larger than maxRequestBytes plus the old gRPC headroom, smaller than Envoy's buffer (1 MiB).
    String big = "x".repeat(LIMIT + 512 * 1024);
    ExchangeResponse r = post("/v1/chat/completions",
        "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"" + big + "\"}]}");
    assertRejected(r, 413, "request_too_large");
  }

  @Test
  void deeplyNestedJsonIsRefusedNotACrash() throws Exception {
    String nested = "[".repeat(5000) + "]".repeat(5000);
    assertRejected(post("/v1/chat/completions", "{\"model\":\"gpt-4o\",\"messages\":" + nested + "}"),
        400, "invalid_json");
    // and the server still serves the next request
    assertEquals(200, post("/v1/chat/completions",
        "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}").status());
  }

  @Test
  void unknownPathIs404InOpenAiShape() throws Exception {
    assertRejected(post("/v1/assistants", "{}"), 404, "unknown_url");
  }

  @Test
  void wrongMethodIs405() throws Exception {
    ExchangeResponse r = gw.envoy.send(ExchangeRequest.get("/v1/chat/completions",
        "authorization", "Bearer " + GatewayFixture.FINANCE_KEY));
    assertRejected(r, 405, "method_not_allowed");
  }

  @Test
  void missingKeyIs401() throws Exception {
    ExchangeResponse r = gw.envoy.send(ExchangeRequest.post("/v1/chat/completions", "{}"));
    assertRejected(r, 401, "missing_api_key");
  }

  @Test
  void azureStyleApiKeyHeaderAuthenticates() {
    ExchangeResponse r = gw.envoy.send(ExchangeRequest.post("/v1/chat/completions",
        "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
        "api-key", GatewayFixture.FINANCE_KEY));
    assertEquals(200, r.status(), r.toString());
    assertEquals(GatewayFixture.AZURE_SECRET, gw.azure.last().header("api-key"),
        "the client's api-key header was replaced by the backend's");
  }

  @Test
  void clientCannotForgeThePoolHeader() {
    // team-finance may not use the "small" pool; a forged x-weir-pool must not get it there.
    ExchangeResponse r = gw.envoy.send(ExchangeRequest.post("/v1/chat/completions",
        "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
        "authorization", "Bearer " + GatewayFixture.FINANCE_KEY, "x-weir-pool", "small", "x-weir-model", "llama"));
    assertEquals(200, r.status());
    assertEquals("aoai-eastus", r.header("x-weir-backend"));
    assertTrue(gw.local.received().isEmpty());
  }

  @Test
  void backendErrorsArePassedThroughAfterRetriesAreSpent() {
    gw.azure.enqueue(ScriptedUpstream.status(500));
    gw.openai.enqueue(ScriptedUpstream.status(500));
    ExchangeResponse r = post("/v1/chat/completions",
        "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    assertEquals(500, r.status());
    assertEquals("openai", r.header("x-weir-backend"));
    assertEquals(1, gw.azure.received().size());
    assertEquals(1, gw.openai.received().size());
  }

  /** A TestEnvoy on the same ext_proc server, with resources edited the way a test needs. */
  private static TestEnvoy envoyWith(java.util.function.UnaryOperator<RouteConfiguration> routes,
      java.util.function.UnaryOperator<ClusterLoadAssignment> endpoints) throws Exception {
    EnvoyResources.Resources res = EnvoyResources.build(gw.config);
    TestEnvoy.Builder b = TestEnvoy.builder().extProc("127.0.0.1", gw.server.grpcPort())
        .routerFilter(GatewayFixture.routerFilterFromBootstrap())
        .routes(routes.apply(res.routes().get(0)))
        .resources(res.clusters(), res.endpoints().stream().map(endpoints).toList());
    return b.build();
  }

  @Test
  void hangingBackendIsCutByThePerTryTimeoutAndTheRetryFailsOver() throws Exception {
    gw.azure.enqueue(new ScriptedUpstream.Hang());
    try (TestEnvoy envoy = envoyWith(rc -> {
      RouteConfiguration.Builder b = rc.toBuilder();
      // Only the timer is shortened; retry_on stays the shipped policy, which retries a timed-out
      // try under "reset" (router.cc onPerTryTimeoutCommon resets the stream).
      b.getVirtualHostsBuilder(0).getRoutesBuilder(0).getRouteBuilder().getRetryPolicyBuilder()
          .setPerTryIdleTimeout(com.google.protobuf.util.Durations.fromMillis(300));
      return b.build();
    }, e -> e)) {
      ExchangeResponse r = envoy.send(ExchangeRequest.post("/v1/chat/completions",
          "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
          "authorization", "Bearer " + GatewayFixture.FINANCE_KEY));
      assertEquals(200, r.status(), r.trace().toString());
      assertEquals("openai", r.header("x-weir-backend"));
      assertTrue(r.trace().stream().anyMatch(t -> t.contains("timeout waiting for")), r.trace().toString());
      assertTrue(r.trace().stream().anyMatch(t -> t.contains("retry (reset)")), r.trace().toString());
    }
  }

  @Test
  void endpointWithoutBackendMetadataGetsAGatewayErrorNotACrash() throws Exception {
    try (TestEnvoy envoy = envoyWith(rc -> rc, cla -> {
      ClusterLoadAssignment.Builder b = cla.toBuilder();
      b.getEndpointsBuilderList().forEach(level -> level.getLbEndpointsBuilderList().forEach(e -> e.clearMetadata()));
      return b.build();
    })) {
      ExchangeResponse r = envoy.send(ExchangeRequest.post("/v1/chat/completions",
          "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
          "authorization", "Bearer " + GatewayFixture.FINANCE_KEY));
      assertEquals(500, r.status(), r.toString());
      assertEquals("internal_error", error(r).path("code").asText());
      assertNull(r.header("x-weir-local-reply"), "the router pass removes the internal marker");
      assertNull(r.header("x-weir-backend"), "no backend served this");
      assertTrue(gw.azure.received().isEmpty() && gw.openai.received().isEmpty());
    }
  }

  @Test
  void extProcServerDownFailsClosedWith500() throws Exception {
    TestEnvoy.Builder b = TestEnvoy.builder().extProc("127.0.0.1", 1) // nothing listens on port 1
        .routerFilter(GatewayFixture.routerFilterFromBootstrap())
        .routes(EnvoyResources.build(gw.config).routes().get(0));
    b.resources(EnvoyResources.build(gw.config).clusters(), EnvoyResources.build(gw.config).endpoints());
    try (TestEnvoy envoy = b.build()) {
      ExchangeResponse r = envoy.send(ExchangeRequest.post("/v1/chat/completions",
          "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
          "authorization", "Bearer " + GatewayFixture.FINANCE_KEY));
      assertEquals(500, r.status(), r.toString());
      assertTrue(gw.azure.received().isEmpty(), "fail closed: nothing unauthenticated reaches a backend");
    }
  }
}
