package dev.weir.extproc.limits;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class RequestsPerMinuteTest {
  private final AtomicLong clock = new AtomicLong(1_795_428_000_000L);
  private final LocalLimitStore store = new LocalLimitStore(100, clock::get);
  private final RequestsPerMinute rpm = new RequestsPerMinute(2);

  @Test
  void aRequestCountsOnceWhateverItsTokensAndStaysCountedAfterItsAnswer() {
    LimitKind.Demand huge = new LimitKind.Demand(100_000, 8192, 999);
    assertEquals(1, rpm.reserve(huge));
    assertEquals(1, rpm.used(new LimitKind.Usage(0, 0), 1), "a failed call still was a request");
  }

  @Test
  void theThirdRequestInAMinuteIsRefusedUntilTheFirstLeavesTheWindow() {
    assertTrue(rpm.take(store, "k", 1).admitted());
    clock.addAndGet(30_000);
    assertTrue(rpm.take(store, "k", 1).admitted());
    LimitKind.Taken third = rpm.take(store, "k", 1);
    assertFalse(third.admitted());
    Limiter.Refused refused = rpm.refusal("per-ip", 1, third, new LimitKind.Demand(1, 1, 0));
    assertEquals(429, refused.error().status());
    assertEquals("requests_per_minute_exceeded", refused.error().code());
    assertEquals("per-ip", refused.limit());
    assertEquals(31, refused.retryAfterSeconds());
    clock.addAndGet(31_000);
    assertTrue(rpm.take(store, "k", 1).admitted());
  }

  @Test
  void countsOnItsOwnKeyBesideTheTokenRateOfTheSameLimit() {
    assertEquals("team|c|rpm", rpm.take(store, "team|c", 1).key());
    assertTrue(new TokensPerMinute(10).take(store, "team|c", 10).admitted(), "a separate counter");
  }

  @Test
  void headersNameRequestsNotTokens() {
    Map<String, String> headers = new LinkedHashMap<>();
    rpm.report(headers, 1);
    assertEquals(Map.of("x-ratelimit-limit-requests", "2", "x-ratelimit-remaining-requests", "1"), headers);
  }
}
