package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.ByteString;
import dev.weir.config.ApiKeys;
import dev.weir.extproc.telemetry.OtlpReceiver;
import dev.weir.testkit.ExchangeRequest;
import dev.weir.testkit.ExchangeResponse;
import dev.weir.testkit.ScriptedUpstream;
import io.opentelemetry.proto.common.v1.AnyValue;
import io.opentelemetry.proto.common.v1.KeyValue;
import io.opentelemetry.proto.logs.v1.LogRecord;
import io.opentelemetry.proto.trace.v1.Span;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Traces and OTLP event logs, asserted through an in-process OTLP receiver: the exchange span with
 * the GenAI attributes, continuing Envoy's traceparent; its children; the attempt span the
 * upstream pass makes and the traceparent the backend gets; sampling; the usage event as a log
 * record.
 */
class TracesAndEventLogsTest {
  static final String CONFIG = """
      backends: [ { name: local, provider: openai-compatible, url: UPSTREAM } ]
      pools: [ { name: p, members: [ { backend: local, model: gpt-4o-2024-08-06 } ] } ]
      models: [ { name: gpt-4o, pool: p, price: { inputPerMillion: 2.5, outputPerMillion: 10 } } ]
      limits: [ { name: rpm, requestsPerMinute: 100 } ]
      consumers: [ { name: team, keys: [ "%s" ], models: [ "*" ], limits: [ rpm ] } ]
      observability:
        traces: { otlp: { endpoint: RECEIVER }, sampleRatio: RATIO, serviceName: gateway-test }
        events: { otlp: { endpoint: RECEIVER } }
      """.formatted(ApiKeys.hash("sk-team"));
  static final String CHAT = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  static final String TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
  static final String ENVOY_SPAN = "00f067aa0ba902b7";
  static final ObjectMapper JSON = new ObjectMapper();

  OtlpReceiver receiver;
  ScriptedUpstream upstream;
  Gateway gw;

  @BeforeEach
  void start() throws Exception {
    receiver = new OtlpReceiver();
    upstream = new ScriptedUpstream("up");
  }

  void gateway(String ratio) throws Exception {
    gw = new Gateway(CONFIG.replace("RECEIVER", receiver.url()).replace("RATIO", ratio), upstream);
  }

  @AfterEach
  void stop() {
    if (gw != null) {
      gw.close();
    }
    upstream.close();
    receiver.close();
  }

  ExchangeResponse send(String... extraHeaders) {
    String[] headers = new String[2 + extraHeaders.length];
    headers[0] = "authorization";
    headers[1] = "Bearer sk-team";
    System.arraycopy(extraHeaders, 0, headers, 2, extraHeaders.length);
    return gw.envoy.send(ExchangeRequest.post("/v1/chat/completions", CHAT, headers));
  }

  static String hex(ByteString b) {
    return HexFormat.of().formatHex(b.toByteArray());
  }

  static Map<String, AnyValue> attributes(List<KeyValue> kvs) {
    return kvs.stream().collect(Collectors.toMap(KeyValue::getKey, KeyValue::getValue));
  }

  static Span named(List<Span> spans, String name) {
    return spans.stream().filter(s -> s.getName().equals(name)).findFirst()
        .orElseThrow(() -> new AssertionError("no span " + name + " in " + spans.stream().map(Span::getName).toList()));
  }

  @Test
  void theExchangeSpanContinuesEnvoysTraceWithGenAiAttributesAndChildSpans() throws Exception {
    gateway("1");
    assertEquals(200, send("traceparent", "00-" + TRACE_ID + "-" + ENVOY_SPAN + "-01").status());
    List<Span> spans = receiver.spansOnce(s -> s.stream().anyMatch(x -> x.getName().equals("chat gpt-4o")));
    Span exchange = named(spans, "chat gpt-4o");
    assertEquals(TRACE_ID, hex(exchange.getTraceId()));
    assertEquals(ENVOY_SPAN, hex(exchange.getParentSpanId()), "a child of the span Envoy forwarded");
    assertEquals(Span.SpanKind.SPAN_KIND_SERVER, exchange.getKind());
    Map<String, AnyValue> a = attributes(exchange.getAttributesList());
    assertEquals("chat", a.get("gen_ai.operation.name").getStringValue());
    assertEquals("gpt-4o", a.get("gen_ai.request.model").getStringValue());
    assertEquals("gpt-4o-2024-08-06", a.get("gen_ai.response.model").getStringValue());
    assertEquals("openai", a.get("gen_ai.provider.name").getStringValue());
    assertEquals(12, a.get("gen_ai.usage.input_tokens").getIntValue());
    assertEquals(5, a.get("gen_ai.usage.output_tokens").getIntValue());
    assertEquals(200, a.get("http.response.status_code").getIntValue());
    assertEquals("team", a.get("weir.consumer").getStringValue());
    assertEquals("served", a.get("weir.outcome").getStringValue());
    assertEquals(1, a.get("weir.attempts").getIntValue());
    assertEquals(List.of("gateway-test"), receiver.serviceNames().stream().distinct().toList());

    String exchangeId = hex(exchange.getSpanId());
    for (String child : List.of("weir.safety.prompt", "weir.cache.lookup", "weir.limits")) {
      Span s = named(spans, child);
      assertEquals(exchangeId, hex(s.getParentSpanId()), child + " is a child of the exchange span");
      assertEquals(TRACE_ID, hex(s.getTraceId()));
    }
    Span attempt = named(spans, "attempt local");
    assertEquals(exchangeId, hex(attempt.getParentSpanId()), "the upstream pass continues the exchange span");
    assertEquals(Span.SpanKind.SPAN_KIND_CLIENT, attempt.getKind());
    assertEquals("local", attributes(attempt.getAttributesList()).get("weir.backend").getStringValue());
    assertEquals("00-" + TRACE_ID + "-" + hex(attempt.getSpanId()) + "-01", upstream.last().header("traceparent"),
        "the backend's parent is the attempt span");
    assertTrue(upstream.last().header("x-weir-traceparent").contains(exchangeId));

    var event = gw.server.runtime().telemetry().recent().newest(1, null, null).get(0);
    assertEquals(TRACE_ID, event.getTraceId());
    assertEquals(exchangeId, event.getSpanId());
  }

  @Test
  void aNewTraceStartsWhenEnvoySendsNoTraceparent() throws Exception {
    gateway("1");
    assertEquals(200, send().status());
    Span exchange = named(receiver.spansOnce(s -> s.stream().anyMatch(x -> x.getName().equals("chat gpt-4o"))),
        "chat gpt-4o");
    assertTrue(exchange.getParentSpanId().isEmpty());
    assertFalse(hex(exchange.getTraceId()).equals(TRACE_ID));
  }

  @Test
  void atASampleRatioOfZeroOnlyTracesEnvoySampledAreRecorded() throws Exception {
    gateway("0");
    assertEquals(200, send().status());
    assertEquals(200, send("traceparent", "00-" + TRACE_ID + "-" + ENVOY_SPAN + "-00").status());
    assertEquals(200, send("traceparent", "00-" + TRACE_ID.replace('4', '5') + "-" + ENVOY_SPAN + "-01").status());
    List<Span> spans = receiver.spansOnce(s -> s.stream().anyMatch(x -> x.getName().equals("chat gpt-4o")));
    gw.server.runtime().telemetry().tracing().flush(2000);
    spans = receiver.spans();
    List<Span> exchanges = spans.stream().filter(s -> s.getName().equals("chat gpt-4o")).toList();
    assertEquals(1, exchanges.size(), "only the exchange whose traceparent says sampled: " + spans);
    assertEquals(TRACE_ID.replace('4', '5'), hex(exchanges.get(0).getTraceId()));
  }

  @Test
  void eachUsageEventIsAnOtlpLogRecordLinkedToItsTrace() throws Exception {
    gateway("1");
    assertEquals(200, send("traceparent", "00-" + TRACE_ID + "-" + ENVOY_SPAN + "-01").status());
    List<LogRecord> logs = receiver.logsOnce(l -> !l.isEmpty());
    assertEquals(1, logs.size());
    LogRecord log = logs.get(0);
    assertEquals(TRACE_ID, hex(log.getTraceId()));
    assertEquals("weir.usage", log.getEventName());
    JsonNode event = JSON.readTree(log.getBody().getStringValue());
    assertEquals("team", event.path("consumer").asText());
    assertEquals("served", event.path("outcome").asText());
    assertEquals(12, event.path("promptTokens").asLong());
    assertEquals("team", attributes(log.getAttributesList()).get("weir.consumer").getStringValue());
  }

  @Test
  void aFailingReceiverNeitherFailsNorSlowsExchangesAndTheLossIsCounted() throws Exception {
    receiver.failing(true);
    gateway("1");
    for (int i = 0; i < 5; i++) {
      assertEquals(200, send().status());
    }
    // The exporter retries a 503 with back-off (about 8 s) before the batch counts as failed.
    String m = gw.metrics();
    for (int i = 0; i < 300 && !m.contains("weir_events_sink_errors_total{sink=\"otlp\"} 1.0"); i++) {
      Thread.sleep(100);
      m = gw.metrics();
    }
    assertTrue(m.contains("weir_events_sink_errors_total{sink=\"otlp\"} 1.0"), m);
    assertTrue(m.contains("weir_events_written_total{sink=\"otlp\"} 0.0"), "nothing reached the receiver");
  }
}
