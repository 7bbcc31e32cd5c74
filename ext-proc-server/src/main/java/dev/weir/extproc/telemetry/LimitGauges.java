package dev.weir.extproc.telemetry;

import dev.weir.config.v1.Consumer;
import dev.weir.extproc.GatewayRuntime;
import dev.weir.extproc.limits.Limiter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code weir_limit_usage_ratio{consumer,limit,kind}}: how much of each consumer-keyed limit,
 * quota and budget is used (0 to 1), for alerts such as "budget nearly spent". Read from the
 * limit store every {@value #REFRESH_SECONDS} s on its own daemon thread, so a scrape never waits
 * on Redis; one series per configured consumer and limit kind, nothing keyed by client input.
 */
public final class LimitGauges implements AutoCloseable {
  static final int REFRESH_SECONDS = 15;
  private static final Logger log = LoggerFactory.getLogger(LimitGauges.class);
  private final MultiGauge usage;
  private final Supplier<GatewayRuntime> runtime;
  private final ScheduledExecutorService timer;

  public LimitGauges(MeterRegistry registry, Supplier<GatewayRuntime> runtime, boolean schedule) {
    this.runtime = runtime;
    this.usage = MultiGauge.builder("weir.limit.usage.ratio")
        .description("Share of a consumer's limit, quota or budget used now (consumer-keyed limits)")
        .register(registry);
    this.timer = schedule ? Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "weir-limit-gauges");
      t.setDaemon(true);
      return t;
    }) : null;
    refresh();
    if (timer != null) {
      timer.scheduleWithFixedDelay(this::refresh, REFRESH_SECONDS, REFRESH_SECONDS, TimeUnit.SECONDS);
    }
  }

  /** Reads every consumer's standing and replaces the series (limits removed by a reload go away). */
  public void refresh() {
    try {
      GatewayRuntime r = runtime.get();
      List<String> allModels = r.config().getModelsList().stream().map(m -> m.getName()).toList();
      List<MultiGauge.Row<?>> rows = new ArrayList<>();
      for (Consumer c : r.config().getConsumersList()) {
        List<String> models = c.getModelsList().contains("*") ? allModels
            : c.getModelsList().stream().filter(allModels::contains).toList();
        for (Limiter.Standing s : r.limiter().standing(c, models)) {
          if (s.used() >= 0 && s.ceiling() > 0) {
            rows.add(MultiGauge.Row.of(Tags.of("consumer", c.getName(), "limit", s.limit(), "kind", s.kind()),
                (double) s.used() / s.ceiling()));
          }
        }
      }
      usage.register(rows, true);
    } catch (RuntimeException e) {
      // Keep the last values; the next refresh tries again.
      log.warn("cannot read limit usage for weir_limit_usage_ratio: {}", e.toString());
    }
  }

  @Override
  public void close() {
    if (timer != null) {
      timer.shutdownNow();
    }
  }
}
