package dev.weir.extproc.telemetry;

import dev.weir.events.v1.UsageEvent;
import java.io.IOException;
import java.util.List;

/** Where usage events go. Called from the event log's one writer thread, never from an exchange. */
public interface EventSink extends AutoCloseable {
  /** The sink's name in metrics: stdout, file, otlp. */
  String name();

  /** Writes a batch of events, oldest first; throws when they could not be written. */
  void write(List<UsageEvent> events) throws IOException;

  @Override
  default void close() {}
}
