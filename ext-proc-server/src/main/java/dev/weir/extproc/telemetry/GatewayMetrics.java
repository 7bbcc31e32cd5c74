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
  private final PrometheusMeterRegistry registry;

  public GatewayMetrics() {
    this.registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  }

  public MeterRegistry registry() {
    return registry;
  }

  public String scrape() {
    return registry.scrape();
  }

  public void record(ExchangeRecord r) {
    Counter.builder("weir.exchanges")
        .description("Exchanges seen by the router pass, by outcome")
        .tag("endpoint", r.endpointName())
        .tag("consumer", r.consumer())
        .tag("model", r.model())
        .tag("backend", r.backend())
        .tag("outcome", r.outcome())
        .register(registry).increment();
    Timer.builder("gen_ai.server.request.duration")
        .description("Time from the request's headers reaching the gateway to the end of its answer")
        .tag("gen_ai.operation.name", r.endpointName())
        .tag("gen_ai.request.model", r.model())
        .tag("weir.backend", r.backend())
        .tag("weir.outcome", r.outcome())
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
