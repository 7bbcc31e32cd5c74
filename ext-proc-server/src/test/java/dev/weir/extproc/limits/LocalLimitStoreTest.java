package dev.weir.extproc.limits;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class LocalLimitStoreTest {
  private final AtomicLong nanos = new AtomicLong();
  private final LocalLimitStore store = new LocalLimitStore(100, () -> nanos.get() / 1_000_000, nanos::get);

  private void advance(Duration d) {
    nanos.addAndGet(d.toNanos());
  }

  @Test
  void aCounterMadeByAnAdjustmentLastsItsWholeTtlNotOneSecond() {
    store.adjustCounter("k", 1, 24 * 3600);
    advance(Duration.ofSeconds(2));
    assertEquals(1, store.counterUsed("k"));
    advance(Duration.ofHours(23));
    assertEquals(1, store.counterUsed("k"));
    advance(Duration.ofHours(1));
    assertEquals(0, store.counterUsed("k"), "gone once its 24 h are over");
  }

  @Test
  void aRefundLowersTheCounterWhichStillExpiresAfterItsTtl() {
    assertEquals(true, store.reserveCounter("q", 10, 4, 60).admitted());
    advance(Duration.ofSeconds(30));
    store.adjustCounter("q", -1, 60);
    advance(Duration.ofSeconds(59));
    assertEquals(3, store.counterUsed("q"));
    advance(Duration.ofSeconds(2));
    assertEquals(0, store.counterUsed("q"));
  }
}
