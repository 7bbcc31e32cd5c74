package dev.weir.extproc.mcp;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.weir.extproc.limits.LocalLimitStore;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class McpSessionsTest {
  private final AtomicLong nanos = new AtomicLong();
  private final McpSessions sessions = McpSessions.local(100, nanos::get);

  private void advance(Duration d) {
    nanos.addAndGet(d.toNanos());
  }

  @Test
  void aLocalBindingLastsADayWithoutUseNotOneSecond() {
    sessions.bind("tracker", "s1", "ops");
    advance(Duration.ofSeconds(2));
    assertEquals(McpSessions.Check.OWNED, sessions.check("tracker", "s1", "ops"));
    advance(Duration.ofHours(23));
    assertEquals(McpSessions.Check.OWNED, sessions.check("tracker", "s1", "ops"));
    advance(Duration.ofHours(24).plusSeconds(1));
    assertEquals(McpSessions.Check.NOT_FOUND, sessions.check("tracker", "s1", "ops"));
  }

  @Test
  void aUseKeepsALocalBindingForAnotherDay() {
    sessions.bind("tracker", "s1", "ops");
    advance(Duration.ofHours(20));
    sessions.check("tracker", "s1", "ops");
    advance(Duration.ofHours(20));
    assertEquals(McpSessions.Check.OWNED, sessions.check("tracker", "s1", "ops"));
  }

  @Test
  void aSessionIsUnknownToAConsumerThatDidNotOpenIt() {
    sessions.bind("tracker", "s1", "ops");
    assertEquals(McpSessions.Check.NOT_FOUND, sessions.check("tracker", "s1", "agent"));
    assertEquals(McpSessions.Check.NOT_FOUND, sessions.check("other", "s1", "ops"));
  }

  @Test
  void manyLocalBindingsNeverEvictALimitCounter() {
    // The local limit store as the runtime makes it without Redis; sessions keep their own cache.
    LocalLimitStore limits = new LocalLimitStore(10, System::currentTimeMillis);
    McpSessions own = McpSessions.local();
    limits.reserveCounter("agent|quota", 100, 99, 3600);
    for (int i = 0; i < 10_000; i++) {
      own.bind("tracker", "s" + i, "mallory");
    }
    assertEquals(99, limits.counterUsed("agent|quota"));
    assertEquals(McpSessions.Check.OWNED, own.check("tracker", "s9999", "mallory"));
  }
}
