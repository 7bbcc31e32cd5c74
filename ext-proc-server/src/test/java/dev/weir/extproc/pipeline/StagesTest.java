package dev.weir.extproc.pipeline;

import static dev.weir.testkit.ProcessingRequests.clearsRouteCache;
import static dev.weir.testkit.ProcessingRequests.immediateBody;
import static dev.weir.testkit.ProcessingRequests.immediateStatus;
import static dev.weir.testkit.ProcessingRequests.post;
import static dev.weir.testkit.ProcessingRequests.removedHeaders;
import static dev.weir.testkit.ProcessingRequests.replacedBody;
import static dev.weir.testkit.ProcessingRequests.requestBody;
import static dev.weir.testkit.ProcessingRequests.requestHeaders;
import static dev.weir.testkit.ProcessingRequests.responseBody;
import static dev.weir.testkit.ProcessingRequests.responseHeaders;
import static dev.weir.testkit.ProcessingRequests.setHeaders;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.Wire;
import dev.weir.extproc.session.RouterExchange;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/** Each stage of the router pass on its own, fed raw ext_proc messages as Envoy sends them. */
class StagesTest {
  static StageHarness h;
  static final String CHAT = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

  @BeforeAll
  static void start() throws Exception {
    h = new StageHarness();
  }

  @AfterAll
  static void stop() {
    h.close();
  }

  @Nested
  class Authentication {
    @Test
    void aRequestWithoutAKeyIsAnsweredWith401() {
      ProcessingResponse r = h.exchange("authenticate").handle(post("/v1/chat/completions", null));
      assertEquals(401, immediateStatus(r));
      assertTrue(immediateBody(r).contains("\"type\":\"invalid_request_error\""), immediateBody(r));
    }

    @Test
    void anAcceptedKeyIsRemovedBeforeTheRequestGoesOn() {
      ProcessingResponse r = h.exchange("authenticate").handle(post("/v1/chat/completions", StageHarness.KEY));
      assertEquals(0, immediateStatus(r));
      assertTrue(removedHeaders(r).containsAll(java.util.List.of("authorization", "api-key")));
    }
  }

  @Nested
  class Validation {
    @Test
    void aBodylessPostIsA400() {
      RouterExchange x = h.exchange("authenticate", "validate");
      ProcessingResponse r = x.handle(requestHeaders(true, ":method", "POST", ":path", "/v1/chat/completions",
          "authorization", "Bearer " + StageHarness.KEY));
      assertEquals(400, immediateStatus(r));
      assertTrue(immediateBody(r).contains("missing_body"));
    }

    @Test
    void anOversizedBodyIsRefusedBeforeAnyoneParsesIt() {
      RouterExchange x = h.exchange("authenticate", "validate");
      x.handle(post("/v1/chat/completions", StageHarness.KEY));
      ProcessingResponse r = x.handle(requestBody("{" + "x".repeat(3000)));
      assertEquals(413, immediateStatus(r));
      assertTrue(immediateBody(r).contains("request_too_large"), immediateBody(r));
    }

    @Test
    void malformedJsonNamesWhereItBroke() {
      RouterExchange x = h.exchange("authenticate", "validate");
      x.handle(post("/v1/chat/completions", StageHarness.KEY));
      ProcessingResponse r = x.handle(requestBody("{\"model\": }"));
      assertEquals(400, immediateStatus(r));
      assertTrue(immediateBody(r).contains("invalid_json") && immediateBody(r).contains("line 1"), immediateBody(r));
    }
  }

  @Nested
  class ModelAccess {
    private ProcessingResponse send(String model) {
      RouterExchange x = h.exchange("authenticate", "validate", "model-access");
      x.handle(post("/v1/chat/completions", StageHarness.KEY));
      return x.handle(requestBody(CHAT.replace("gpt-4o", model)));
    }

    @Test
    void anUnknownModelIs404() {
      assertEquals(404, immediateStatus(send("gpt-9")));
    }

    @Test
    void aModelTheConsumerMayNotUseIs403() {
      ProcessingResponse r = send("secret-model");
      assertEquals(403, immediateStatus(r));
      assertTrue(immediateBody(r).contains("model_not_allowed"));
    }

    @Test
    void anAllowedModelGoesOn() {
      assertEquals(0, immediateStatus(send("gpt-4o")));
    }
  }

  @Nested
  class Route {
    @Test
    void theModelListIsAnsweredByTheGatewayWithOnlyAllowedModels() {
      RouterExchange x = h.exchange("authenticate", "route");
      ProcessingResponse r = x.handle(requestHeaders(true, ":method", "GET", ":path", "/v1/models",
          "authorization", "Bearer " + StageHarness.KEY));
      assertEquals(200, immediateStatus(r));
      assertTrue(immediateBody(r).contains("\"id\":\"gpt-4o\""));
      assertFalse(immediateBody(r).contains("secret-model"));
    }

    @Test
    void clientSetInternalHeadersAreRemovedAndThePathKept() {
      ProcessingResponse r = h.exchange("authenticate", "route").handle(post("/v1/chat/completions?x=1", StageHarness.KEY));
      assertTrue(removedHeaders(r).contains(Wire.POOL_HEADER));
      assertEquals("/v1/chat/completions?x=1", setHeaders(r).get("x-weir-original-path"));
    }

    @Test
    void theBodyPointsTheRouteAtThePoolAndClearsTheRouteCache() {
      RouterExchange x = h.exchange("authenticate", "validate", "model-access", "route");
      x.handle(post("/v1/chat/completions", StageHarness.KEY));
      ProcessingResponse r = x.handle(requestBody(CHAT));
      assertEquals("p", setHeaders(r).get(Wire.POOL_HEADER));
      assertEquals("gpt-4o", setHeaders(r).get("x-weir-model"));
      assertEquals(Integer.toString(CHAT.length()), setHeaders(r).get("x-weir-body-length"));
      assertTrue(clearsRouteCache(r));
      assertNull(replacedBody(r), "a non-streamed request is sent as the client wrote it");
    }

    @Test
    void aStreamedRequestAsksForUsageAndGetsItsNewLength() {
      RouterExchange x = h.exchange("authenticate", "validate", "model-access", "route");
      x.handle(post("/v1/chat/completions", StageHarness.KEY));
      ProcessingResponse r = x.handle(requestBody(CHAT.replace("}]}", "}],\"stream\":true}")));
      String body = replacedBody(r);
      assertTrue(body.contains("\"include_usage\":true"), body);
      assertEquals(Integer.toString(body.length()), setHeaders(r).get("content-length"));
      assertEquals(Integer.toString(body.length()), setHeaders(r).get("x-weir-body-length"));
    }

    @Test
    void theAnsweringBackendIsNamed() {
      RouterExchange x = h.exchange("authenticate", "validate", "model-access", "route");
      x.handle(post("/v1/chat/completions", StageHarness.KEY));
      x.handle(requestBody(CHAT));
      ProcessingResponse r = x.handle(responseHeaders(200, "application/json", Wire.BACKEND_ATTRIBUTE, "local"));
      assertEquals("local", setHeaders(r).get("x-weir-backend"));
    }
  }

  @Nested
  class Limits {
    @Test
    void aRefusalIsA429WithRetryAfterAndTheLimitsName() throws Exception {
      try (StageHarness own = new StageHarness()) {
        String[] stages = {"authenticate", "validate", "model-access", "limits"};
        RouterExchange first = own.exchange(stages);
        first.handle(post("/v1/chat/completions", StageHarness.KEY));
        assertEquals(0, immediateStatus(first.handle(requestBody(CHAT))));
        RouterExchange second = own.exchange(stages);
        second.handle(post("/v1/chat/completions", StageHarness.KEY));
        ProcessingResponse r = second.handle(requestBody(CHAT));
        assertEquals(429, immediateStatus(r));
        assertEquals("rpm", setHeaders(r).get("x-weir-limit"));
        assertTrue(Integer.parseInt(setHeaders(r).get("retry-after")) >= 1);
      }
    }

    @Test
    void theAnswerReportsLimitsAndWhatWasConsumed() throws Exception {
      try (StageHarness own = new StageHarness()) {
        RouterExchange x = own.exchange("authenticate", "validate", "model-access", "limits", "usage");
        x.handle(post("/v1/chat/completions", StageHarness.KEY));
        x.handle(requestBody(CHAT));
        ProcessingResponse headers = x.handle(responseHeaders(200, "application/json", Wire.BACKEND_ATTRIBUTE, "local"));
        assertEquals("0", setHeaders(headers).get("x-ratelimit-remaining-requests"));
        assertTrue(setHeaders(headers).containsKey("x-weir-tokens-reserved"));
        ProcessingResponse body = x.handle(responseBody(
            "{\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3,\"total_tokens\":10}}", true));
        assertEquals("10", setHeaders(body).get("x-weir-tokens-consumed"));
      }
    }
  }

  @Nested
  class Usage {
    private RouterExchange streaming(String request) {
      RouterExchange x = h.exchange("authenticate", "validate", "model-access", "usage");
      x.handle(post("/v1/chat/completions", StageHarness.KEY));
      x.handle(requestBody(request));
      x.handle(responseHeaders(200, "text/event-stream", Wire.BACKEND_ATTRIBUTE, "local"));
      return x;
    }

    static final String CONTENT = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n";
    static final String USAGE = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1,"
        + "\"total_tokens\":6}}\n\n";

    @Test
    void theUsageChunkIsHiddenFromAClientThatDidNotAskForIt() {
      RouterExchange x = streaming(CHAT.replace("}]}", "}],\"stream\":true}"));
      assertEquals(CONTENT, replacedBody(x.handle(responseBody(CONTENT, false))));
      assertEquals("data: [DONE]\n\n", replacedBody(x.handle(responseBody(USAGE + "data: [DONE]\n\n", true))));
      x.end(false);
      assertEquals(6, x.state().record().usage().totalTokens());
    }

    @Test
    void aClientThatAskedForUsageGetsIt() {
      RouterExchange x = streaming(CHAT.replace("}]}", "}],\"stream\":true,\"stream_options\":{\"include_usage\":true}}"));
      assertEquals(USAGE, replacedBody(x.handle(responseBody(USAGE, false))));
    }

    @Test
    void anEventSplitAcrossChunksGoesOutWholeWithTheChunkThatCompletesIt() {
      RouterExchange x = streaming(CHAT.replace("}]}", "}],\"stream\":true}"));
      assertEquals("", replacedBody(x.handle(responseBody(CONTENT.substring(0, 20), false))));
      assertEquals(CONTENT, replacedBody(x.handle(responseBody(CONTENT.substring(20), false))));
    }

    @Test
    void withoutReportedUsageTheGatewayCountsWhatStreamed() {
      RouterExchange x = streaming(CHAT.replace("}]}", "}],\"stream\":true}"));
      x.handle(responseBody(CONTENT + "data: [DONE]\n\n", true));
      x.end(false);
      assertTrue(x.state().record().isUsageCounted());
      assertEquals(1, x.state().record().usage().completionTokens());
    }
  }

  @Nested
  class Runner {
    @Test
    void aStageThatAnswersStopsTheStagesAfterIt() {
      RouterExchange x = h.exchange("authenticate", "route");
      ProcessingResponse r = x.handle(post("/v1/chat/completions", "wrong-key"));
      assertEquals(401, immediateStatus(r));
      assertFalse(setHeaders(r).containsKey("x-weir-original-path"), "route never ran");
      assertEquals("rejected_invalid_api_key", x.state().record().outcome());
    }

    @Test
    void anUnknownPathIs404BeforeAnyStage() {
      ProcessingResponse r = h.exchange("authenticate").handle(post("/v2/whatever", null));
      assertEquals(404, immediateStatus(r));
    }
  }
}
