package dev.weir.extproc.limits;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.v1.Period;
import dev.weir.config.v1.Quota;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class TokenQuotaTest {
  /** 2026-11-23T22:30:00Z: 23:30 in Paris, the same day there as in UTC. */
  private final AtomicLong clock = new AtomicLong(1_795_473_000_000L);
  private final LocalLimitStore store = new LocalLimitStore(100, clock::get);

  private static TokenQuota daily(String zone) {
    return new TokenQuota(Quota.newBuilder().setTokens(1000).setPeriod(Period.DAY).setTimeZone(zone).build());
  }

  @Test
  void theDayEndsAtMidnightInTheQuotasTimeZone() {
    TokenQuota paris = daily("Europe/Paris");
    TokenQuota utc = daily("");
    LimitKind.Taken parisBefore = paris.take(store, "p", 1000);
    LimitKind.Taken utcBefore = utc.take(store, "u", 1000);
    assertEquals("p|quota|2026-11-23", parisBefore.key());
    clock.addAndGet(3_600_000L); // 23:30 UTC, 00:30 in Paris
    assertTrue(paris.take(store, "p", 1000).admitted(), "a new day in Paris");
    assertFalse(utc.take(store, "u", 1).admitted(), "still the same day in UTC");
    assertNotEquals(parisBefore.key(), paris.take(store, "p", 0).key());
    assertEquals("u|quota|2026-11-23", utcBefore.key());
  }

  @Test
  void counterOutlivesItsPeriodByADaySoLateSettlementsFindIt() {
    LimitKind.Taken t = daily("").take(store, "k", 1);
    assertEquals(90 * 60 + 86_400, t.ttlSeconds(), "90 minutes to midnight UTC, plus a day");
  }

  @Test
  void settlementChargesWhatWasUsedNotWhatWasReserved() {
    TokenQuota quota = daily("");
    LimitKind.Demand demand = new LimitKind.Demand(200, 800, 0);
    LimitKind.Taken t = quota.take(store, "k", quota.reserve(demand));
    long used = quota.used(new LimitKind.Usage(300, 0), 1000);
    quota.adjust(store, t, used - 1000);
    LimitKind.Taken next = quota.take(store, "k", 700);
    assertTrue(next.admitted());
    assertEquals(0, next.remaining());
  }

  @Test
  void refusalIs403AndSaysWhatIsLeft() {
    TokenQuota quota = daily("");
    quota.take(store, "k", 950);
    LimitKind.Demand demand = new LimitKind.Demand(60, 40, 0);
    LimitKind.Taken t = quota.take(store, "k", 100);
    Limiter.Refused refused = quota.refusal("monthly", 100, t, demand);
    assertEquals(403, refused.error().status());
    assertEquals("token_quota_exceeded", refused.error().code());
    assertEquals(0, refused.retryAfterSeconds());
    assertEquals("Token quota \"monthly\" for this day is used up (50 of 1000 left; this request needs about 100).",
        refused.error().message());
  }

  @Test
  void headersShowTheQuotaWithTheLeastRoom() {
    Map<String, String> headers = new LinkedHashMap<>();
    daily("").report(headers, 10);
    new TokenQuota(Quota.newBuilder().setTokens(5).setPeriod(Period.HOUR).build()).report(headers, 50);
    assertEquals(Map.of("x-weir-quota-limit-tokens", "1000", "x-weir-quota-remaining-tokens", "10"), headers);
  }
}
