package dev.weir.extproc.telemetry;

import dev.weir.events.v1.UsageEvent;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Hands usage events to the sinks without ever making an exchange wait: {@link #offer} puts the
 * event in a bounded queue and returns; one daemon writer thread drains it in batches into every
 * sink. When the sinks are slow or failing and the queue is full, new events are dropped and
 * counted ({@code weir.events.dropped}); a sink's failure is counted
 * ({@code weir.events.sink.errors}) and logged at most once a minute, and the other sinks go on.
 */
public final class EventLog implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(EventLog.class);
  static final int BATCH = 512;
  private final BlockingQueue<UsageEvent> queue;
  private final List<EventSink> sinks;
  private final Counter dropped;
  private final MeterRegistry registry;
  private final Thread writer;
  private volatile boolean closing;
  private long lastWarnNanos = System.nanoTime() - 120_000_000_000L;

  public EventLog(List<EventSink> sinks, int queueSize, MeterRegistry registry) {
    this.sinks = List.copyOf(sinks);
    this.queue = new ArrayBlockingQueue<>(queueSize);
    this.registry = registry;
    this.dropped = Counter.builder("weir.events.dropped")
        .description("Usage events not written because the sinks fell behind and the queue was full")
        .register(registry);
    // Registered now so the series exists (at 0) before the first failure.
    this.sinks.forEach(s -> sinkErrors(s).increment(0));
    this.sinks.forEach(s -> written(s).increment(0));
    this.writer = Thread.ofPlatform().daemon().name("weir-events").start(this::run);
  }

  private Counter sinkErrors(EventSink s) {
    return Counter.builder("weir.events.sink.errors")
        .description("Batches of usage events a sink failed to write, by sink").tag("sink", s.name())
        .register(registry);
  }

  private Counter written(EventSink s) {
    return Counter.builder("weir.events.written").description("Usage events a sink wrote, by sink")
        .tag("sink", s.name()).register(registry);
  }

  /** Queues the event for the sinks; never blocks. Returns false when it was dropped. */
  public boolean offer(UsageEvent event) {
    if (closing || !queue.offer(event)) {
      dropped.increment();
      return false;
    }
    return true;
  }

  /** Events waiting for the sinks. */
  public int pending() {
    return queue.size();
  }

  private void run() {
    List<UsageEvent> batch = new ArrayList<>(BATCH);
    while (true) {
      try {
        UsageEvent first = queue.poll(200, TimeUnit.MILLISECONDS);
        if (first == null) {
          if (closing) {
            return;
          }
          continue;
        }
        batch.add(first);
        queue.drainTo(batch, BATCH - 1);
        write(batch);
        batch.clear();
      } catch (InterruptedException e) {
        queue.drainTo(batch);
        write(batch);
        return;
      }
    }
  }

  private void write(List<UsageEvent> batch) {
    if (batch.isEmpty()) {
      return;
    }
    for (EventSink sink : sinks) {
      try {
        sink.write(batch);
        written(sink).increment(batch.size());
      } catch (Exception e) {
        sinkErrors(sink).increment();
        long now = System.nanoTime();
        if (now - lastWarnNanos > 60_000_000_000L) {
          lastWarnNanos = now;
          log.warn("usage event sink {} failed ({} events lost there): {}", sink.name(), batch.size(), e.toString());
        }
      }
    }
  }

  /** Writes what is queued (waiting up to {@code waitMillis}), then closes the sinks. */
  public void close(long waitMillis) {
    closing = true;
    try {
      writer.join(waitMillis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    if (writer.isAlive()) {
      writer.interrupt();
    }
    sinks.forEach(EventSink::close);
  }

  @Override
  public void close() {
    close(5000);
  }
}
