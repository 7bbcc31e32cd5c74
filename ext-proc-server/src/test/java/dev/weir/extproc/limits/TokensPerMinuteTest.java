package dev.weir.extproc.limits;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class TokensPerMinuteTest {
  private final AtomicLong clock = new AtomicLong(1_795_428_000_000L);
  private final LocalLimitStore store = new LocalLimitStore(100, clock::get);
  private final TokensPerMinute tpm = new TokensPerMinute(1000);

  @Test
  void reservesThePromptPlusTheCompletionReservationAndSettlesOnTokensUsed() {
    LimitKind.Demand demand = new LimitKind.Demand(300, 500, 42);
    assertEquals(800, tpm.reserve(demand));
    assertEquals(120, tpm.used(new LimitKind.Usage(120, 7), 800));
  }

  @Test
  void countsOnTheSameKeyAsBeforeSoRedisCountersSurviveAnUpgrade() {
    LimitKind.Taken t = tpm.take(store, "team|c", 10);
    assertEquals("team|c|tpm", t.key());
  }

  @Test
  void refundGivesRoomBackInTheSameMinute() {
    LimitKind.Taken first = tpm.take(store, "k", 900);
    assertFalse(tpm.take(store, "k", 200).admitted());
    tpm.adjust(store, first, -800);
    LimitKind.Taken after = tpm.take(store, "k", 200);
    assertTrue(after.admitted());
    assertEquals(700, after.remaining());
  }

  @Test
  void refusalOfARequestLargerThanTheWholeLimitSaysRetryingCannotHelp() {
    LimitKind.Demand demand = new LimitKind.Demand(700, 600, 0);
    LimitKind.Taken t = tpm.take(store, "k", tpm.reserve(demand));
    assertFalse(t.admitted());
    Limiter.Refused refused = tpm.refusal("tpm", 1300, t, demand);
    assertEquals(429, refused.error().status());
    assertEquals("tokens_per_minute_exceeded", refused.error().code());
    assertTrue(refused.error().message().contains("(700 prompt + 600 reserved for the answer)"),
        refused.error().message());
    assertTrue(refused.error().message().contains("Lower max_tokens"), refused.error().message());
  }

  @Test
  void refusalOfARequestThatFitsLaterCarriesRetryAfter() {
    tpm.take(store, "k", 900);
    clock.addAndGet(15_000);
    LimitKind.Demand demand = new LimitKind.Demand(100, 100, 0);
    LimitKind.Taken t = tpm.take(store, "k", 200);
    Limiter.Refused refused = tpm.refusal("tpm", 200, t, demand);
    assertEquals(46, refused.retryAfterSeconds(), "the first charge leaves the window at t=61");
    assertTrue(refused.error().message().endsWith("Retry after 46 s."), refused.error().message());
  }

  @Test
  void headersShowTheLimitWithTheLeastRoom() {
    Map<String, String> headers = new LinkedHashMap<>();
    tpm.report(headers, 400);
    new TokensPerMinute(5000).report(headers, 4000);
    assertEquals("1000", headers.get("x-ratelimit-limit-tokens"));
    assertEquals("400", headers.get("x-ratelimit-remaining-tokens"));
    new TokensPerMinute(500).report(headers, 100);
    assertEquals("500", headers.get("x-ratelimit-limit-tokens"));
    assertEquals("100", headers.get("x-ratelimit-remaining-tokens"));
  }
}
