package dev.weir.extproc.session;

import static dev.weir.testkit.ProcessingRequests.replacedBody;
import static dev.weir.testkit.ProcessingRequests.requestBody;
import static dev.weir.testkit.ProcessingRequests.setHeaders;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import dev.weir.config.ApiKeys;
import dev.weir.config.ConfigLoader;
import dev.weir.config.Wire;
import dev.weir.extproc.GatewayRuntime;
import dev.weir.extproc.telemetry.GatewayMetrics;
import dev.weir.testkit.ProcessingRequests;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The upstream pass fed what Envoy sends on a retry: the headers as the previous attempt's
 * upstream filters left them (Content-Length included) and the router's original body.
 */
class UpstreamExchangeTest {
  static GatewayRuntime runtime;
  static final String BODY = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

  @BeforeAll
  static void start() throws Exception {
    var config = new ConfigLoader(Map.of("K", "sk")::get, true).parse("""
        backends:
          - { name: renamed, provider: openai, url: "http://127.0.0.1:1", credential: { env: K } }
          - { name: same, provider: openai, url: "http://127.0.0.1:2", credential: { env: K } }
        pools:
          - name: p
            members: [ { backend: renamed, model: gpt-4o-2024-08-06 }, { backend: same, priority: 1 } ]
        models: [ { name: gpt-4o, pool: p } ]
        consumers: [ { name: c, keys: [ "%s" ], models: [ "*" ] } ]
        """.formatted(ApiKeys.hash("k")), "t", null);
    runtime = new GatewayRuntime(config, Map.of("K", "sk")::get, new GatewayMetrics());
  }

  @AfterAll
  static void stop() {
    runtime.close();
  }

  /** Headers of an attempt after a previous one rewrote the body to 80 bytes. */
  private static ProcessingRequest retryHeaders(String backend) {
    ProcessingRequest h = ProcessingRequests.requestHeaders(false, ":method", "POST", ":path",
        "/v1/chat/completions", "content-length", "80", Wire.POOL_HEADER, "p", "x-weir-model", "gpt-4o",
        "x-weir-original-path", "/v1/chat/completions", "x-weir-body-length", Integer.toString(BODY.length()));
    return h.toBuilder().putAttributes(ProcessingRequests.ATTRIBUTES, Struct.newBuilder()
        .putFields(Wire.BACKEND_ATTRIBUTE, Value.newBuilder().setStringValue(backend).build()).build()).build();
  }

  @Test
  void anAttemptThatRenamesTheModelRewritesTheOriginalBodyEveryTime() {
    for (int attempt = 0; attempt < 2; attempt++) {
      UpstreamExchange x = new UpstreamExchange(runtime);
      ProcessingResponse headers = x.handle(retryHeaders("renamed"));
      assertFalse(headers.hasModeOverride(), "the body is needed");
      ProcessingResponse body = x.handle(requestBody(BODY));
      String sent = replacedBody(body);
      assertTrue(sent.contains("\"model\":\"gpt-4o-2024-08-06\""), sent);
      assertEquals(Integer.toString(sent.length()), setHeaders(body).get("content-length"));
    }
  }

  @Test
  void anAttemptThatKeepsTheBodyRestoresItsLengthAndSkipsTheBody() {
    ProcessingResponse headers = new UpstreamExchange(runtime).handle(retryHeaders("same"));
    assertEquals(Integer.toString(BODY.length()), setHeaders(headers).get("content-length"),
        "the previous attempt's length must not go out with the original body");
    assertEquals(ProcessingMode.BodySendMode.NONE, headers.getModeOverride().getRequestBodyMode());
  }
}
