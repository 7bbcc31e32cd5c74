package dev.weir.extproc.telemetry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.events.v1.UsageEvent;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The event queue and the JSON-lines sink: drops are counted, failures isolated, files rotated. */
class EventLogTest {
  static UsageEvent event(String id) {
    return UsageEvent.newBuilder().setRequestId(id).setConsumer("team").setOutcome("served").build();
  }

  /** A sink that blocks until released, then records what it got. */
  static final class StuckSink implements EventSink {
    final CountDownLatch release = new CountDownLatch(1);
    final CountDownLatch entered = new CountDownLatch(1);
    final List<UsageEvent> got = new java.util.concurrent.CopyOnWriteArrayList<>();

    @Override
    public String name() {
      return "stuck";
    }

    @Override
    public void write(List<UsageEvent> events) throws IOException {
      entered.countDown();
      try {
        release.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      got.addAll(events);
    }
  }

  @Test
  void aStuckSinkFillsTheQueueAndFurtherEventsAreDroppedAndCountedWithoutBlocking() throws Exception {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    StuckSink sink = new StuckSink();
    EventLog log = new EventLog(List.of(sink), 3, registry);
    assertTrue(log.offer(event("first")));
    assertTrue(sink.entered.await(5, TimeUnit.SECONDS), "the writer took the first event and is stuck");
    for (int i = 0; i < 3; i++) {
      assertTrue(log.offer(event("queued-" + i)));
    }
    assertFalse(log.offer(event("dropped-1")), "the queue is full: offer returns at once");
    assertFalse(log.offer(event("dropped-2")));
    assertEquals(2, registry.get("weir.events.dropped").counter().count());
    sink.release.countDown();
    log.close(5000);
    assertEquals(List.of("first", "queued-0", "queued-1", "queued-2"),
        sink.got.stream().map(UsageEvent::getRequestId).toList());
    assertEquals(4, registry.get("weir.events.written").tag("sink", "stuck").counter().count());
  }

  @Test
  void aFailingSinkIsCountedAndTheOtherSinksStillWrite(@TempDir Path dir) throws Exception {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    EventSink broken = new EventSink() {
      @Override
      public String name() {
        return "broken";
      }

      @Override
      public void write(List<UsageEvent> events) throws IOException {
        throw new IOException("disk full");
      }
    };
    Path file = dir.resolve("events.jsonl");
    EventLog log = new EventLog(List.of(broken, JsonLinesSink.file(file, 1 << 20, 2)), 100, registry);
    log.offer(event("a"));
    log.offer(event("b"));
    log.close(5000);
    assertEquals(List.of("{\"requestId\":\"a\",\"consumer\":\"team\",\"outcome\":\"served\"}",
        "{\"requestId\":\"b\",\"consumer\":\"team\",\"outcome\":\"served\"}"), Files.readAllLines(file));
    assertTrue(registry.get("weir.events.sink.errors").tag("sink", "broken").counter().count() >= 1);
    assertEquals(0, registry.get("weir.events.sink.errors").tag("sink", "file").counter().count());
  }

  @Test
  void theFileRotatesAtItsSizeAndKeepsMaxFiles(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("events.jsonl");
    JsonLinesSink sink = JsonLinesSink.file(file, 4096, 2);
    String line = JsonLinesSink.line(event("x".repeat(1000)));
    for (int i = 0; i < 20; i++) {
      sink.write(List.of(event("x".repeat(1000))));
    }
    sink.close();
    assertTrue(Files.size(file) <= 4096);
    assertTrue(Files.exists(dir.resolve("events.jsonl.1")));
    assertTrue(Files.exists(dir.resolve("events.jsonl.2")));
    assertFalse(Files.exists(dir.resolve("events.jsonl.3")), "only maxFiles rotated files are kept");
    assertEquals(List.of(line, line, line), Files.readAllLines(dir.resolve("events.jsonl.1")),
        "whole lines: a file is rotated before a batch that would not fit");
  }
}
