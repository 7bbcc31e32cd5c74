package dev.weir.extproc.telemetry;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Exchange metrics, exposed for Prometheus on the admin port. Names follow the OpenTelemetry GenAI
 * semantic conventions where one exists ({@code gen_ai.server.request.duration}).
 */
public final class GatewayMetrics {
  private static final Logger audit = LoggerFactory.getLogger("weir.audit");
  /** The label value for anything not named in the config: what clients send never becomes one. */
  public static final String UNKNOWN = "unknown";
  private static final java.time.Duration[] DURATION_BUCKETS = java.util.stream.LongStream.of(5, 10, 25, 50, 100,
      250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 120_000, 300_000)
      .mapToObj(java.time.Duration::ofMillis).toArray(java.time.Duration[]::new);
  private final PrometheusMeterRegistry registry;
  private volatile Vocabulary vocabulary = new Vocabulary(java.util.Set.of(), java.util.Set.of(), java.util.Set.of());

  /**
   * The label values the config names. A client may put anything in "model" or send requests
   * to any path, so only these values reach a label and everything else is {@link #UNKNOWN}:
   * the number of series stays bounded by the config, whatever clients send.
   */
  private record Vocabulary(java.util.Set<String> models, java.util.Set<String> consumers,
      java.util.Set<String> backends) {
    String model(String m) {
      return m.isEmpty() || models.contains(m) ? m : UNKNOWN;
    }

    String consumer(String c) {
      return c.isEmpty() || consumers.contains(c) ? c : UNKNOWN;
    }

    String backend(String b) {
      return b.isEmpty() || backends.contains(b) ? b : UNKNOWN;
    }
  }

  /** Takes the label vocabulary from the config in force (at start and on every reload). */
  public void vocabulary(dev.weir.config.v1.GatewayConfig config) {
    java.util.Set<String> models = new java.util.HashSet<>();
    config.getModelsList().forEach(m -> models.add(m.getName()));
    java.util.Set<String> consumers = new java.util.HashSet<>();
    config.getConsumersList().forEach(c -> consumers.add(c.getName()));
    java.util.Set<String> backends = new java.util.HashSet<>();
    config.getBackendsList().forEach(b -> backends.add(b.getName()));
    // Keep what earlier configs named: series already exported for them stay meaningful.
    Vocabulary old = vocabulary;
    models.addAll(old.models());
    consumers.addAll(old.consumers());
    backends.addAll(old.backends());
    vocabulary = new Vocabulary(java.util.Set.copyOf(models), java.util.Set.copyOf(consumers),
        java.util.Set.copyOf(backends));
  }

  /** {@code model} when the config names it, else {@link #UNKNOWN} (for stores keyed by model). */
  public String knownModel(String model) {
    return vocabulary.model(model);
  }

  public GatewayMetrics() {
    this.registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  }

  /** OpenTelemetry GenAI: gen_ai.client.token.usage, a histogram by gen_ai.token.type. */
  private void tokens(ExchangeRecord r, String type, long count) {
    io.micrometer.core.instrument.DistributionSummary.builder("gen_ai.client.token.usage")
        .description("Tokens per request (OpenTelemetry GenAI semantic conventions)")
        .tag("gen_ai.token.type", type)
        .tag("gen_ai.operation.name", r.endpointName())
        .tag("gen_ai.request.model", vocabulary.model(r.model()))
        .tag("weir.consumer", vocabulary.consumer(r.consumer()))
        .tag("weir.backend", vocabulary.backend(r.backend()))
        .tag("weir.outcome", r.outcome())
        .serviceLevelObjectives(16, 64, 256, 1024, 4096, 16384, 65536, 262144)
        .register(registry).record(count);
  }

  /** Token totals by type, including reasoning and cached input, for rate() and budgets. */
  private void counter(ExchangeRecord r, String type, long count) {
    Counter.builder("weir.tokens").description("Tokens, by type (input, output, reasoning, cached_input)")
        .tag("type", type).tag("consumer", vocabulary.consumer(r.consumer())).tag("model", vocabulary.model(r.model()))
        .tag("backend", vocabulary.backend(r.backend()))
        .tag("counted_by", r.isUsageCounted() ? "gateway" : "backend")
        .register(registry).increment(count);
  }

  public MeterRegistry registry() {
    return registry;
  }

  public String scrape() {
    return registry.scrape();
  }

  /** Limiter decisions and store errors, by limit. */
  public dev.weir.extproc.limits.Limiter.Observer limiterObserver() {
    return new dev.weir.extproc.limits.Limiter.Observer() {
      @Override
      public void decision(String limit, String kind, String outcome) {
        Counter.builder("weir.limiter.decisions").description("Limit checks, by limit, kind and outcome")
            .tag("limit", limit).tag("kind", kind).tag("outcome", outcome).register(registry).increment();
      }

      @Override
      public void storeError(String limit, boolean failedOpen) {
        Counter.builder("weir.limiter.store.errors")
            .description("Limit store (Redis) failures, by limit and what the limit did about it")
            .tag("limit", limit).tag("mode", failedOpen ? "fail_open" : "fail_closed").register(registry).increment();
      }
    };
  }

  /**
   * Breaker events: {@code event} is trip, recovery, probe_failed, all_tripped (the router pass
   * answered at once) or store_error (fail open); pool and backend come from the config only.
   */
  public void breaker(String event, String pool, String backend) {
    Counter.builder("weir.breaker.events")
        .description("Throttle-aware circuit breaker: trips, recoveries, failed probes, all-tripped answers, store errors")
        .tag("event", event).tag("pool", pool).tag("backend", backend.isEmpty() ? "" : vocabulary.backend(backend))
        .register(registry).increment();
  }

  public void record(ExchangeRecord r) {
    if (r.usage() != null) {
      var u = r.usage();
      tokens(r, "input", u.promptTokens());
      tokens(r, "output", u.completionTokens());
      if (u.reasoningTokens() >= 0) {
        counter(r, "reasoning", u.reasoningTokens());
      }
      if (u.cachedPromptTokens() >= 0) {
        counter(r, "cached_input", u.cachedPromptTokens());
      }
      counter(r, "input", u.promptTokens());
      counter(r, "output", u.completionTokens());
    }
    if (r.costMicros() > 0) {
      Counter.builder("weir.cost.usd").description("Spend at the configured model prices, US dollars")
          .tag("consumer", vocabulary.consumer(r.consumer())).tag("model", vocabulary.model(r.model()))
          .tag("backend", vocabulary.backend(r.backend()))
          .register(registry).increment(r.costMicros() / 1e6);
    }
    Counter.builder("weir.exchanges")
        .description("Exchanges seen by the router pass, by outcome")
        .tag("endpoint", r.endpointName())
        .tag("consumer", vocabulary.consumer(r.consumer()))
        .tag("model", vocabulary.model(r.model()))
        .tag("backend", vocabulary.backend(r.backend()))
        .tag("outcome", r.outcome())
        .register(registry).increment();
    Timer.builder("gen_ai.server.request.duration")
        .description("Time from the request's headers reaching the gateway to the end of its answer")
        .tag("gen_ai.operation.name", r.endpointName())
        .tag("gen_ai.request.model", vocabulary.model(r.model()))
        .tag("weir.backend", vocabulary.backend(r.backend()))
        .tag("weir.outcome", r.outcome())
        // Fixed buckets, for histogram_quantile() in alerts and for the console's p50/p99:
        // a gateway answers in milliseconds (cache, refusals) or in tens of seconds (generations).
        .serviceLevelObjectives(DURATION_BUCKETS)
        .register(registry).record(r.durationNanos(), TimeUnit.NANOSECONDS);
    if (audit.isInfoEnabled()) {
      audit.info("exchange endpoint={} consumer={} model={} pool={} backend={} status={} outcome={}"
              + " prompt_tokens={} completion_tokens={} stream_events={} duration_ms={}",
          r.endpointName(), r.consumer(), r.model(), r.pool(), r.backend(), r.status(), r.outcome(),
          r.usage() == null ? -1 : r.usage().promptTokens(),
          r.usage() == null ? -1 : r.usage().completionTokens(),
          r.streamEvents(), r.durationNanos() / 1_000_000);
    }
  }
}
