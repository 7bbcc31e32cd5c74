package dev.weir.extproc.session;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import dev.weir.config.ConfigLoader;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.extproc.GatewayRuntime;
import dev.weir.extproc.telemetry.GatewayMetrics;
import io.envoyproxy.envoy.config.core.v3.HeaderMap;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The upstream pass for a Bedrock attempt fed raw ext_proc messages: the body answer carries the
 * translated body with the headers computed from it (path, SigV4 signature, Content-Length).
 */
class UpstreamExchangeBedrockTest {
  private static final String CONFIG = """
      backends:
        - { name: br, provider: bedrock, url: "https://bedrock-runtime.us-east-1.amazonaws.com",
            region: us-east-1, aws: { profile: %s, profileFile: "%s" } }
      pools: [ { name: p, members: [ { backend: br, model: "anthropic.claude-3-haiku-20240307-v1:0" } ] } ]
      models: [ { name: claude, pool: p } ]
      """;
  private static final String BODY =
      "{\"model\":\"claude\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

  private static UpstreamExchange exchange(Path dir, String profile) throws Exception {
    Path credentials = dir.resolve("credentials");
    Files.writeString(credentials, "[weir]\naws_access_key_id = AKIDUNIT\naws_secret_access_key = secret\n");
    GatewayConfig config = new ConfigLoader(Map.<String, String>of()::get, true)
        .parse(CONFIG.formatted(profile, credentials), "t.yaml", null);
    return new UpstreamExchange(new GatewayRuntime(config, Map.<String, String>of()::get, new GatewayMetrics()));
  }

  private static ProcessingRequest headers() {
    HeaderMap.Builder map = HeaderMap.newBuilder();
    Map.of(":path", "/v1/chat/completions", ":method", "POST", ":authority", "gateway.local",
        GatewayHeaders.POOL, "p", GatewayHeaders.MODEL, "claude", GatewayHeaders.ORIGINAL_PATH, "/v1/chat/completions",
        GatewayHeaders.BODY_LENGTH, Integer.toString(BODY.length()))
        .forEach((k, v) -> map.addHeaders(HeaderValue.newBuilder().setKey(k).setRawValue(ByteString.copyFromUtf8(v))));
    return ProcessingRequest.newBuilder()
        .setRequestHeaders(HttpHeaders.newBuilder().setHeaders(map))
        .putAttributes(GatewayHeaders.ATTRIBUTES_NAMESPACE, Struct.newBuilder()
            .putFields(GatewayHeaders.BACKEND_ATTRIBUTE, Value.newBuilder().setStringValue("br").build()).build())
        .build();
  }

  private static ProcessingRequest body() {
    return ProcessingRequest.newBuilder().setRequestBody(HttpBody.newBuilder()
        .setBody(ByteString.copyFromUtf8(BODY)).setEndOfStream(true)).build();
  }

  private static Map<String, String> set(Iterable<HeaderValueOption> options) {
    Map<String, String> out = new HashMap<>();
    options.forEach(o -> out.put(o.getHeader().getKey(), o.getHeader().getRawValue().toStringUtf8()));
    return out;
  }

  @Test
  void bodyAnswerCarriesTheConverseBodyItsStreamPathAndItsSignature(@TempDir Path dir) throws Exception {
    UpstreamExchange exchange = exchange(dir, "weir");
    ProcessingResponse onHeaders = exchange.handle(headers());
    assertFalse(onHeaders.hasModeOverride(), "the body must come: it is translated and signed");
    Map<String, String> first = set(onHeaders.getRequestHeaders().getResponse().getHeaderMutation().getSetHeadersList());
    assertEquals("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse", first.get(":path"));

    ProcessingResponse onBody = exchange.handle(body());
    var common = onBody.getRequestBody().getResponse();
    String converse = common.getBodyMutation().getBody().toStringUtf8();
    assertEquals("{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"hi\"}]}]}", converse);
    Map<String, String> headers = set(common.getHeaderMutation().getSetHeadersList());
    assertEquals("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream", headers.get(":path"));
    assertEquals(Integer.toString(converse.length()), headers.get("content-length"));
    assertTrue(headers.get("authorization").startsWith("AWS4-HMAC-SHA256 Credential=AKIDUNIT/"), headers.toString());
    assertTrue(headers.containsKey("x-amz-date"));
  }

  @Test
  void attemptWithoutResolvableCredentialsIsALocalReplyNotACrash(@TempDir Path dir) throws Exception {
    UpstreamExchange exchange = exchange(dir, "absent");
    exchange.handle(headers());
    ProcessingResponse onBody = exchange.handle(body());
    assertTrue(onBody.hasImmediateResponse(), onBody.toString());
    assertEquals(500, onBody.getImmediateResponse().getStatus().getCodeValue());
    assertEquals("upstream", set(onBody.getImmediateResponse().getHeaders().getSetHeadersList())
        .get(GatewayHeaders.LOCAL_REPLY));
    assertFalse(onBody.toString().contains("secret"));
  }
}
