package dev.weir.extproc.openai;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Incremental parser of a {@code text/event-stream} body, fed chunk by chunk as Envoy streams
 * them. Chunks never align with events: a line, or a UTF-8 character, may be split anywhere, and
 * lines may end in LF, CR or CRLF (the SSE spec allows all three; a CRLF may itself be split).
 * Each completed event comes back with its exact bytes (so a stream can be passed on with events
 * dropped but nothing re-encoded) and its {@code data} (multi-line data joined with '\n'; null
 * for a block with no data, such as a comment).
 */
public final class SseParser {
  /** One event: its bytes as received, up to and including the blank line that ended it. */
  public record Event(byte[] raw, String data) {}

  private final ByteArrayOutputStream line = new ByteArrayOutputStream(256);
  private final ByteArrayOutputStream raw = new ByteArrayOutputStream(512);
  private final StringBuilder data = new StringBuilder();
  private boolean hasData;
  private boolean lastWasCr;
  private final int maxLineBytes;

  public SseParser(int maxLineBytes) {
    this.maxLineBytes = maxLineBytes;
  }

  public List<Event> feed(byte[] chunk) {
    List<Event> events = new ArrayList<>(2);
    for (byte b : chunk) {
      raw.write(b);
      if (b == '\n' && lastWasCr) {
        lastWasCr = false; // second half of CRLF
        continue;
      }
      lastWasCr = b == '\r';
      if (b == '\n' || b == '\r') {
        endLine(events);
      } else if (line.size() < maxLineBytes) {
        line.write(b);
      }
    }
    return events;
  }

  /** Ends the stream: a last event without its blank line still counts, bytes included. */
  public List<Event> finish() {
    List<Event> events = new ArrayList<>(1);
    if (line.size() > 0) {
      endLine(events);
    }
    if (hasData || raw.size() > 0) {
      events.add(new Event(raw.toByteArray(), hasData ? data.toString() : null));
      raw.reset();
      data.setLength(0);
      hasData = false;
    }
    return events;
  }

  private void endLine(List<Event> events) {
    String text = line.toString(StandardCharsets.UTF_8);
    line.reset();
    if (text.isEmpty()) {
      events.add(new Event(raw.toByteArray(), hasData ? data.toString() : null));
      raw.reset();
      data.setLength(0);
      hasData = false;
      return;
    }
    if (text.startsWith(":")) {
      return; // comment
    }
    int colon = text.indexOf(':');
    String field = colon < 0 ? text : text.substring(0, colon);
    if (!field.equals("data")) {
      return; // event, id, retry: not needed to read OpenAI streams
    }
    String value = colon < 0 ? "" : text.substring(colon + 1);
    if (value.startsWith(" ")) {
      value = value.substring(1);
    }
    if (hasData) {
      data.append('\n');
    }
    data.append(value);
    hasData = true;
  }
}
