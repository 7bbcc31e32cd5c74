package dev.weir.extproc.telemetry;

import dev.weir.config.v1.OtlpExport;
import dev.weir.events.v1.UsageEvent;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.common.Value;
import io.opentelemetry.api.logs.Severity;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.TraceFlags;
import io.opentelemetry.api.trace.TraceState;
import io.opentelemetry.exporter.otlp.http.logs.OtlpHttpLogRecordExporter;
import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.common.InstrumentationScopeInfo;
import io.opentelemetry.sdk.logs.data.Body;
import io.opentelemetry.sdk.logs.data.LogRecordData;
import io.opentelemetry.sdk.resources.Resource;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Usage events as OTLP log records over HTTP (protobuf) to {@code <endpoint>/v1/logs}: the body is
 * the event's JSON line, the event name {@code weir.usage}, the main dimensions are attributes, and
 * the record carries the exchange's trace and span ids so a backend links it to the trace. Runs on
 * the event log's writer thread and waits for each export (bounded by the timeout): a slow
 * receiver fills the event queue, never an exchange.
 */
public final class OtlpLogSink implements EventSink {
  static final InstrumentationScopeInfo SCOPE = InstrumentationScopeInfo.create("dev.weir.extproc.telemetry");
  private final OtlpHttpLogRecordExporter exporter;
  private final Resource resource;
  private final long timeoutMillis;

  public OtlpLogSink(OtlpExport otlp, String serviceName) {
    this.timeoutMillis = otlp.getTimeoutMillis();
    this.exporter = OtlpHttpLogRecordExporter.builder()
        .setEndpoint(stripSlash(otlp.getEndpoint()) + "/v1/logs")
        .setTimeout(Duration.ofMillis(timeoutMillis))
        .build();
    this.resource = Resource.create(Attributes.of(AttributeKey.stringKey("service.name"), serviceName));
  }

  static String stripSlash(String url) {
    return url.endsWith("/") ? url.substring(0, url.length() - 1) : url;
  }

  @Override
  public String name() {
    return "otlp";
  }

  @Override
  public void write(List<UsageEvent> events) throws IOException {
    List<LogRecordData> records = new ArrayList<>(events.size());
    for (UsageEvent e : events) {
      records.add(new EventRecord(resource, e));
    }
    CompletableResultCode result = exporter.export(records).join(timeoutMillis + 1000, TimeUnit.MILLISECONDS);
    if (!result.isSuccess()) {
      Throwable why = result.getFailureThrowable();
      throw new IOException("OTLP log export failed" + (why == null ? "" : ": " + why.getMessage()), why);
    }
  }

  @Override
  public void close() {
    exporter.shutdown().join(timeoutMillis, TimeUnit.MILLISECONDS);
  }

  /** One usage event as an OTLP log record. */
  record EventRecord(Resource resource, UsageEvent event) implements LogRecordData {
    @Override
    public Resource getResource() {
      return resource;
    }

    @Override
    public InstrumentationScopeInfo getInstrumentationScopeInfo() {
      return SCOPE;
    }

    @Override
    public long getTimestampEpochNanos() {
      return event.getTime().getSeconds() * 1_000_000_000L + event.getTime().getNanos();
    }

    @Override
    public long getObservedTimestampEpochNanos() {
      return getTimestampEpochNanos() + (long) (event.getTotalLatencyMs() * 1e6);
    }

    @Override
    public SpanContext getSpanContext() {
      if (event.getTraceId().isEmpty()) {
        return SpanContext.getInvalid();
      }
      return SpanContext.create(event.getTraceId(), event.getSpanId(), TraceFlags.getSampled(), TraceState.getDefault());
    }

    @Override
    public Severity getSeverity() {
      return event.getOutcome().equals("error") ? Severity.WARN : Severity.INFO;
    }

    @Override
    public String getSeverityText() {
      return getSeverity().name();
    }

    @SuppressWarnings("deprecation")
    @Override
    public Body getBody() {
      return Body.string(JsonLinesSink.line(event));
    }

    @Override
    public Value<?> getBodyValue() {
      return Value.of(JsonLinesSink.line(event));
    }

    @Override
    public String getEventName() {
      return "weir.usage";
    }

    @Override
    public Attributes getAttributes() {
      return Attributes.builder()
          .put("weir.consumer", event.getConsumer())
          .put("gen_ai.request.model", event.getModelRequested())
          .put("weir.backend", event.getBackend())
          .put("weir.outcome", event.getOutcome())
          .put("http.response.status_code", (long) event.getStatus())
          .build();
    }

    @Override
    public int getTotalAttributeCount() {
      return 5;
    }
  }
}
