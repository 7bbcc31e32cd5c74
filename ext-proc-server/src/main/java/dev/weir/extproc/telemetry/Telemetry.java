package dev.weir.extproc.telemetry;

import dev.weir.config.v1.GatewayConfig;
import dev.weir.config.v1.Observability;
import dev.weir.config.v1.RedisSettings;
import dev.weir.events.v1.UsageEvent;
import dev.weir.extproc.usage.LocalUsageLedger;
import dev.weir.extproc.usage.RedisUsageLedger;
import dev.weir.extproc.usage.UsageAmounts;
import dev.weir.extproc.usage.UsageLedger;
import io.micrometer.core.instrument.Counter;
import java.nio.file.Path;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Where each finished exchange's usage event goes: the ring of recent events ({@code GET /events}),
 * the chargeback ledger ({@code GET /usage}) and the event sinks. Built from the config's
 * observability block; a reload keeps the parts whose settings did not change, and always keeps
 * the recent events. Thread-safe; {@link #publish} never blocks on I/O.
 */
public final class Telemetry implements AutoCloseable {
  /**
   * The usage ledger's model for requests that name none (model listing): one fixed value, so the
   * totals stay bounded by the config, and never an empty cell in a report.
   */
  public static final String NO_MODEL = "(none)";
  private final Observability settings;
  private final RedisSettings redis;
  private final RecentEvents recent;
  private final UsageLedger ledger;
  private final EventLog events;
  private final GatewayMetrics metrics;
  private final String replica;
  private final Tracing tracing;

  private Telemetry(Observability settings, RedisSettings redis, RecentEvents recent, UsageLedger ledger,
      EventLog events, GatewayMetrics metrics, String replica, Tracing tracing) {
    this.tracing = tracing;
    this.settings = settings;
    this.redis = redis;
    this.recent = recent;
    this.ledger = ledger;
    this.events = events;
    this.metrics = metrics;
    this.replica = replica;
  }

  /** Telemetry for {@code config}: {@code previous} itself when nothing it uses changed. */
  public static Telemetry forConfig(GatewayConfig config, GatewayMetrics metrics, Telemetry previous) {
    Observability o = config.getObservability();
    RedisSettings redis = config.hasRedis() ? config.getRedis() : null;
    if (previous != null && previous.settings.equals(o) && Objects.equals(previous.redis, redis)) {
      return previous;
    }
    int capacity = o.getEvents().getRecentEvents();
    RecentEvents recent = previous == null ? new RecentEvents(capacity)
        : previous.recent.capacity() == capacity ? previous.recent : previous.recent.resized(capacity);
    int retention = o.getUsage().getRetentionDays();
    UsageLedger ledger;
    if (previous != null && Objects.equals(previous.redis, redis)
        && previous.settings.getUsage().equals(o.getUsage())) {
      ledger = previous.ledger;
    } else if (redis != null) {
      Counter errors = Counter.builder("weir.usage.ledger.errors")
          .description("Usage totals that could not be added to Redis (chargeback undercounts by these)")
          .register(metrics.registry());
      ledger = new RedisUsageLedger(redis, "weir:", retention, t -> errors.increment());
    } else {
      ledger = new LocalUsageLedger(retention);
    }
    EventLog events = previous != null && previous.settings.getEvents().equals(o.getEvents()) ? previous.events
        : eventLog(o, metrics);
    Tracing tracing = !o.hasTraces() ? Tracing.OFF
        : previous != null && previous.tracing.enabled() && previous.tracing.settings().equals(o.getTraces())
            ? previous.tracing : Tracing.of(o.getTraces());
    return new Telemetry(o, redis, recent, ledger, events, metrics,
        previous != null ? previous.replica : defaultReplica(), tracing);
  }

  private static EventLog eventLog(Observability o, GatewayMetrics metrics) {
    var e = o.getEvents();
    List<EventSink> sinks = new ArrayList<>();
    if (e.getStdout()) {
      sinks.add(JsonLinesSink.stdout(System.out));
    }
    if (e.hasFile()) {
      sinks.add(JsonLinesSink.file(Path.of(e.getFile().getPath()), e.getFile().getMaxBytes(), e.getFile().getMaxFiles()));
    }
    if (e.hasOtlp()) {
      sinks.add(new OtlpLogSink(e.getOtlp(), o.hasTraces() ? o.getTraces().getServiceName() : "weir-ext-proc"));
    }
    return sinks.isEmpty() ? null : new EventLog(sinks, e.getQueueSize(), metrics.registry());
  }

  /** This replica's name in events: the HOSTNAME (a pod's name), else the process id. */
  static String defaultReplica() {
    String host = System.getenv("HOSTNAME");
    return host != null && !host.isBlank() ? host : "pid-" + ProcessHandle.current().pid();
  }

  public String replica() {
    return replica;
  }

  public Tracing tracing() {
    return tracing;
  }

  public RecentEvents recent() {
    return recent;
  }

  public UsageLedger ledger() {
    return ledger;
  }

  /** Records a finished exchange's event everywhere it goes. */
  public void publish(UsageEvent event) {
    recent.add(event);
    if (!event.getConsumer().isEmpty()) {
      // Only authenticated exchanges are charged; the model is a configured one, "unknown", or
      // NO_MODEL for requests that name none (GET /v1/models), so no row has an empty model.
      Instant t = Instant.ofEpochSecond(event.getTime().getSeconds());
      String model = event.getModelRequested().isEmpty() ? NO_MODEL : metrics.knownModel(event.getModelRequested());
      ledger.add(new UsageLedger.Key(LocalDate.ofInstant(t, ZoneOffset.UTC), event.getConsumer(), model),
          UsageAmounts.of(event));
    }
    if (events != null) {
      events.offer(event);
    }
  }

  /** Closes what {@code next} does not reuse (after a reload, once in-flight exchanges are done). */
  public void retire(Telemetry next) {
    if (next == this) {
      return;
    }
    if (next.ledger != ledger) {
      ledger.close();
    }
    if (events != null && next.events != events) {
      events.close();
    }
    if (next.tracing != tracing) {
      tracing.close();
    }
  }

  @Override
  public void close() {
    if (events != null) {
      events.close();
    }
    tracing.close();
    ledger.close();
  }
}
