package dev.weir.extproc.session;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.google.protobuf.ByteString;
import dev.weir.config.ApiKeys;
import dev.weir.config.ConfigLoader;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.extproc.GatewayRuntime;
import dev.weir.extproc.openai.ApiError;
import dev.weir.extproc.openai.Json;
import dev.weir.extproc.telemetry.GatewayMetrics;
import io.envoyproxy.envoy.config.core.v3.HeaderMap;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The router pass fed raw ext_proc messages for native Anthropic clients: key header, errors in their shape. */
class RouterExchangeDialectTest {
  static final String KEY = "sk-weir-dialect-test";
  static GatewayRuntime gateway;

  @BeforeAll
  static void start() throws Exception {
    GatewayConfig config = new ConfigLoader(Map.of("K", "secret")::get, true).parse("""
        backends: [ { name: claude, provider: anthropic, url: "http://127.0.0.1:1", credential: { env: K } } ]
        pools: [ { name: claude, members: [ { backend: claude } ] } ]
        models: [ { name: claude, pool: claude } ]
        consumers: [ { name: app, keys: [ "%s" ], models: [ "*" ] } ]
        """.formatted(ApiKeys.hash(KEY)), "test", null);
    gateway = new GatewayRuntime(config, Map.of("K", "secret")::get, new GatewayMetrics());
  }

  @AfterAll
  static void stop() {
    gateway.close();
  }

  private static HeaderMap headers(String... pairs) {
    HeaderMap.Builder map = HeaderMap.newBuilder();
    for (int i = 0; i < pairs.length; i += 2) {
      map.addHeaders(HeaderValue.newBuilder().setKey(pairs[i]).setRawValue(ByteString.copyFromUtf8(pairs[i + 1])));
    }
    return map.build();
  }

  private static ProcessingRequest requestHeaders(String... pairs) {
    return ProcessingRequest.newBuilder().setRequestHeaders(HttpHeaders.newBuilder().setHeaders(headers(pairs))).build();
  }

  private static ProcessingRequest requestBody(String json) {
    return ProcessingRequest.newBuilder().setRequestBody(HttpBody.newBuilder()
        .setBody(ByteString.copyFromUtf8(json)).setEndOfStream(true)).build();
  }

  private static JsonNode immediateBody(ProcessingResponse r) throws Exception {
    return Json.MAPPER.readTree(r.getImmediateResponse().getBody().toByteArray());
  }

  @Test
  void weirKeyInXApiKeyAuthenticatesAndIsRemoved() {
    RouterExchange exchange = new RouterExchange(gateway);
    ProcessingResponse r = exchange.handle(requestHeaders(":method", "POST", ":path", "/v1/messages", "x-api-key", KEY));
    assertFalse(r.hasImmediateResponse(), r.toString());
    assertTrue(r.getRequestHeaders().getResponse().getHeaderMutation().getRemoveHeadersList().contains("x-api-key"));
    assertEquals("app", exchange.state().caller().name());
  }

  @Test
  void refusalsOnMessagesAreInAnthropicsShape() throws Exception {
    ProcessingResponse noKey = new RouterExchange(gateway).handle(
        requestHeaders(":method", "POST", ":path", "/v1/messages", "x-api-key", "sk-wrong-key-123456"));
    assertEquals(401, noKey.getImmediateResponse().getStatus().getCodeValue());
    assertEquals("authentication_error", immediateBody(noKey).path("error").path("type").asText());

    RouterExchange exchange = new RouterExchange(gateway);
    exchange.handle(requestHeaders(":method", "POST", ":path", "/v1/messages", "x-api-key", KEY));
    ProcessingResponse invalid = exchange.handle(requestBody("{\"model\":\"claude\",\"max_tokens\":10,\"messages\":[]}"));
    assertEquals(400, invalid.getImmediateResponse().getStatus().getCodeValue());
    JsonNode body = immediateBody(invalid);
    assertEquals("error", body.path("type").asText());
    assertEquals("invalid_request_error", body.path("error").path("type").asText());
    assertEquals("messages must contain at least one message", body.path("error").path("message").asText());

    ProcessingResponse chat = new RouterExchange(gateway).handle(
        requestHeaders(":method", "POST", ":path", "/v1/chat/completions", "authorization", "Bearer sk-wrong-key-123456"));
    assertEquals("invalid_api_key", immediateBody(chat).path("error").path("code").asText(), "OpenAI clients keep OpenAI's shape");
  }

  @Test
  void upstreamPassLocalReplyReachesMessagesClientsInAnthropicsShape() throws Exception {
    RouterExchange exchange = new RouterExchange(gateway);
    exchange.handle(requestHeaders(":method", "POST", ":path", "/v1/messages", "x-api-key", KEY));
    ProcessingResponse accepted = exchange.handle(requestBody(
        "{\"model\":\"claude\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"));
    assertFalse(accepted.hasImmediateResponse(), accepted.toString());
    ProcessingResponse headers = exchange.handle(ProcessingRequest.newBuilder().setResponseHeaders(HttpHeaders.newBuilder()
        .setHeaders(headers(":status", "400", "content-type", "application/json", GatewayHeaders.LOCAL_REPLY, "upstream")))
        .build());
    assertTrue(headers.getResponseHeaders().getResponse().getHeaderMutation().getRemoveHeadersList().contains("content-length"));
    ProcessingResponse body = exchange.handle(ProcessingRequest.newBuilder().setResponseBody(HttpBody.newBuilder()
        .setBody(ByteString.copyFrom(ApiError.badRequest("unsupported_endpoint", "cannot answer /v1/messages").toJson()))
        .setEndOfStream(true)).build());
    JsonNode reshaped = Json.MAPPER.readTree(body.getResponseBody().getResponse().getBodyMutation().getBody().toByteArray());
    assertEquals("error", reshaped.path("type").asText());
    assertEquals("invalid_request_error", reshaped.path("error").path("type").asText());
    assertEquals("cannot answer /v1/messages", reshaped.path("error").path("message").asText());
    exchange.end(false);
  }
}
