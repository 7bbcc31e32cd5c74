package dev.weir.extproc.telemetry;

import dev.weir.config.v1.TraceSettings;
import dev.weir.events.v1.UsageEvent;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.propagation.TextMapGetter;
import io.opentelemetry.exporter.otlp.http.trace.OtlpHttpSpanExporter;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.export.BatchSpanProcessor;
import io.opentelemetry.sdk.trace.samplers.Sampler;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * OpenTelemetry traces of exchanges: one span per exchange with the GenAI semantic conventions'
 * attributes, children for the cache lookup, the safety checks and the limits, and one span per
 * upstream attempt made by the upstream pass. Continues the W3C {@code traceparent} Envoy forwards
 * and passes the gateway's own to the backend. Spans are exported in batches by the SDK's
 * BatchSpanProcessor on its own thread (bounded queue; when full, spans are dropped, never waited
 * for); sampling is parent-based over a trace-id ratio. Thread-safe.
 */
public final class Tracing implements AutoCloseable {
  /** No tracing configured: every span is a no-op and nothing is exported. */
  public static final Tracing OFF = new Tracing(null, null);
  static final String SCOPE = "dev.weir.extproc";
  /** The sampleRatio config.proto declares for when it is left out. */
  static final double DEFAULT_SAMPLE_RATIO = Double.parseDouble(dev.weir.config.Defaults.declared(
      TraceSettings.getDescriptor().findFieldByName("sampleRatio")).orElseThrow());
  private static final W3CTraceContextPropagator W3C = W3CTraceContextPropagator.getInstance();
  private static final TextMapGetter<Map<String, String>> HEADERS = new TextMapGetter<>() {
    @Override
    public Iterable<String> keys(Map<String, String> carrier) {
      return carrier.keySet();
    }

    @Override
    public String get(Map<String, String> carrier, String key) {
      return carrier == null ? null : carrier.get(key);
    }
  };

  private final SdkTracerProvider provider;
  private final Tracer tracer;
  private final TraceSettings settings;

  private Tracing(SdkTracerProvider provider, TraceSettings settings) {
    this.provider = provider;
    this.tracer = provider == null ? null : provider.get(SCOPE);
    this.settings = settings;
  }

  /** Tracing as {@code settings} say: OTLP/HTTP export of sampled spans. */
  public static Tracing of(TraceSettings settings) {
    String endpoint = OtlpLogSink.stripSlash(settings.getOtlp().getEndpoint()) + "/v1/traces";
    OtlpHttpSpanExporter exporter = OtlpHttpSpanExporter.builder().setEndpoint(endpoint)
        .setTimeout(Duration.ofMillis(settings.getOtlp().getTimeoutMillis())).build();
    SdkTracerProvider provider = SdkTracerProvider.builder()
        .setResource(Resource.create(Attributes.of(AttributeKey.stringKey("service.name"), settings.getServiceName())))
        .setSampler(Sampler.parentBased(Sampler.traceIdRatioBased(sampleRatio(settings))))
        .addSpanProcessor(BatchSpanProcessor.builder(exporter).setScheduleDelay(Duration.ofMillis(500)).build())
        .build();
    return new Tracing(provider, settings);
  }

  /** The share of new traces recorded: an explicit 0 records none; left out, the declared default. */
  static double sampleRatio(TraceSettings settings) {
    return settings.hasSampleRatio() ? settings.getSampleRatio() : DEFAULT_SAMPLE_RATIO;
  }

  public TraceSettings settings() {
    return settings;
  }

  public boolean enabled() {
    return tracer != null;
  }

  /** Exports what is buffered now (tests, shutdown); waits up to {@code millis}. */
  public void flush(long millis) {
    if (provider != null) {
      provider.forceFlush().join(millis, TimeUnit.MILLISECONDS);
    }
  }

  @Override
  public void close() {
    if (provider != null) {
      provider.shutdown().join(10, TimeUnit.SECONDS);
    }
  }

  /** The parent context a request's {@code traceparent} and {@code tracestate} carry (root if none). */
  static Context parent(Map<String, String> requestHeaders) {
    return W3C.extract(Context.root(), requestHeaders, HEADERS);
  }

  /** The headers that pass {@code span} on as the parent of what the next hop does. */
  static Map<String, String> propagation(Span span) {
    Map<String, String> out = new LinkedHashMap<>();
    if (span.getSpanContext().isValid()) {
      W3C.inject(Context.root().with(span), out, Map::put);
    }
    return out;
  }

  /** Starts the span of one exchange, a child of Envoy's {@code traceparent} when it sent one. */
  public ExchangeSpan startExchange(Map<String, String> requestHeaders, String path, long startEpochNanos) {
    if (tracer == null) {
      return ExchangeSpan.NONE;
    }
    Span span = tracer.spanBuilder("weir " + path).setParent(parent(requestHeaders)).setSpanKind(SpanKind.SERVER)
        .setStartTimestamp(startEpochNanos, TimeUnit.NANOSECONDS).startSpan();
    return new ExchangeSpan(tracer, span);
  }

  /** Starts the span of one upstream attempt, a child of the exchange span the router pass propagated. */
  public Span startAttempt(Map<String, String> requestHeaders, String backend, String provider, String model) {
    if (tracer == null) {
      return Span.getInvalid();
    }
    return tracer.spanBuilder("attempt " + backend).setParent(parent(requestHeaders)).setSpanKind(SpanKind.CLIENT)
        .setAttribute("weir.backend", backend)
        .setAttribute("gen_ai.provider.name", providerName(provider))
        .setAttribute("gen_ai.request.model", model)
        .startSpan();
  }

  /** The {@code traceparent} (and {@code tracestate}) headers that make {@code span} the next hop's parent. */
  public static Map<String, String> headersFor(Span span) {
    return propagation(span);
  }

  /**
   * gen_ai.provider.name's well-known values for Weir's providers (OpenTelemetry GenAI semantic
   * conventions, gen-ai-spans.md); an OpenAI-compatible server is reported as openai.
   */
  static String providerName(String provider) {
    return switch (provider) {
      case "azure-openai" -> "azure.ai.openai";
      case "anthropic" -> "anthropic";
      case "bedrock" -> "aws.bedrock";
      case "" -> "";
      default -> "openai";
    };
  }

  /** gen_ai.operation.name for an endpoint as events name it. */
  static String operationName(String endpoint) {
    return switch (endpoint) {
      case "chat_completions", "messages", "responses" -> "chat";
      case "completions" -> "text_completion";
      case "embeddings" -> "embeddings";
      default -> endpoint;
    };
  }

  /** One exchange's span and its children; a no-op when tracing is off. One thread at a time. */
  public static final class ExchangeSpan {
    /** Tracing off. */
    public static final ExchangeSpan NONE = new ExchangeSpan(null, Span.getInvalid());
    private final Tracer tracer;
    private final Span span;

    ExchangeSpan(Tracer tracer, Span span) {
      this.tracer = tracer;
      this.span = span;
    }

    public SpanContext context() {
      return span.getSpanContext();
    }

    /** The headers that make this exchange's span the parent of the upstream attempts. */
    public Map<String, String> propagationHeaders() {
      return propagation(span);
    }

    /** A child span (cache lookup, safety, limits), started now; a no-op span when off or unsampled. */
    public Span child(String name) {
      if (tracer == null || !span.isRecording()) {
        return Span.getInvalid();
      }
      return tracer.spanBuilder(name).setParent(Context.root().with(span)).setSpanKind(SpanKind.INTERNAL).startSpan();
    }

    /** Names the span, sets the GenAI and Weir attributes from the exchange's event, and ends it. */
    public void end(UsageEvent e) {
      if (!span.isRecording()) {
        return;
      }
      String operation = operationName(e.getEndpoint());
      span.updateName(e.getModelRequested().isEmpty() ? operation : operation + " " + e.getModelRequested());
      span.setAttribute("gen_ai.operation.name", operation);
      set("gen_ai.request.model", e.getModelRequested());
      set("gen_ai.response.model", e.getModelServed());
      set("gen_ai.provider.name", providerName(e.getProvider()));
      if (!e.getTokensCountedBy().isEmpty()) {
        span.setAttribute("gen_ai.usage.input_tokens", e.getPromptTokens());
        span.setAttribute("gen_ai.usage.output_tokens", e.getCompletionTokens());
      }
      span.setAttribute("http.response.status_code", (long) e.getStatus());
      set("weir.consumer", e.getConsumer());
      set("weir.pool", e.getPool());
      set("weir.backend", e.getBackend());
      span.setAttribute("weir.outcome", e.getOutcome());
      span.setAttribute("weir.attempts", (long) e.getAttempts());
      set("weir.cache", e.getCache());
      set("weir.request_id", e.getRequestId());
      if (e.getCostUsd() > 0) {
        span.setAttribute("weir.cost_usd", e.getCostUsd());
      }
      if (e.getOutcome().equals("error")) {
        span.setAttribute("error.type", e.getErrorCode().isEmpty() ? Integer.toString(e.getStatus()) : e.getErrorCode());
        span.setStatus(StatusCode.ERROR, e.getErrorCode());
      } else if (!e.getErrorCode().isEmpty()) {
        // Blocked and limited requests are the gateway working, not failing: named, not errors.
        span.setAttribute("weir.error_code", e.getErrorCode());
      }
      span.end();
    }

    private void set(String key, String value) {
      if (value != null && !value.isEmpty()) {
        span.setAttribute(key, value);
      }
    }
  }
}
