package dev.weir.extproc.openai;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class SseParserTest {
  private static List<String> parseSplitAt(byte[] bytes, int... cuts) {
    SseParser p = new SseParser(1 << 20);
    List<SseParser.Event> events = new ArrayList<>();
    int from = 0;
    for (int cut : cuts) {
      events.addAll(p.feed(Arrays.copyOfRange(bytes, from, cut)));
      from = cut;
    }
    events.addAll(p.feed(Arrays.copyOfRange(bytes, from, bytes.length)));
    events.addAll(p.finish());
    // Concatenated, the events' bytes are the stream exactly.
    java.io.ByteArrayOutputStream all = new java.io.ByteArrayOutputStream();
    events.forEach(e -> all.writeBytes(e.raw()));
    assertEquals(new String(bytes, StandardCharsets.UTF_8), all.toString(StandardCharsets.UTF_8));
    return events.stream().map(SseParser.Event::data).filter(java.util.Objects::nonNull).toList();
  }

  @Test
  void sameEventsWhereverTheChunksAreCutIncludingInsideUtf8AndCrlf() {
    String stream = "data: {\"a\":\"héllo ☃\"}\r\n\r\n: keep-alive comment\r\ndata:{\"b\":2}\r\n\r\ndata: [DONE]\r\n\r\n";
    byte[] bytes = stream.getBytes(StandardCharsets.UTF_8);
    List<String> expected = List.of("{\"a\":\"héllo ☃\"}", "{\"b\":2}", "[DONE]");
    for (int i = 0; i <= bytes.length; i++) {
      for (int j = i; j <= bytes.length; j += 7) {
        assertEquals(expected, parseSplitAt(bytes, i, j), "cut at " + i + " and " + j);
      }
    }
  }

  @Test
  void acceptsLfAndBareCrLineEnds() {
    assertEquals(List.of("1", "2"), parseSplitAt("data: 1\n\ndata: 2\r\r".getBytes(StandardCharsets.UTF_8)));
  }

  @Test
  void joinsMultiLineDataAndIgnoresOtherFields() {
    byte[] b = "event: message\nid: 7\ndata: first\ndata: second\nretry: 10\n\n".getBytes(StandardCharsets.UTF_8);
    assertEquals(List.of("first\nsecond"), parseSplitAt(b));
  }

  @Test
  void unterminatedLastEventCountsAtEndOfStream() {
    assertEquals(List.of("tail"), parseSplitAt("data: tail".getBytes(StandardCharsets.UTF_8)));
  }
}
