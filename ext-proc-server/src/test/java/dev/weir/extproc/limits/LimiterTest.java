package dev.weir.extproc.limits;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.ApiKeys;
import dev.weir.config.ConfigLoader;
import dev.weir.config.v1.GatewayConfig;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class LimiterTest {
  /** 2026-11-23T10:00:00Z */
  private final AtomicLong clock = new AtomicLong(1_795_428_000_000L);
  private final LocalLimitStore store = new LocalLimitStore(10_000, clock::get);

  private Limiter limiter(String limits, String consumerLimits) throws Exception {
    GatewayConfig config = new ConfigLoader(Map.<String, String>of()::get, true).parse("""
        backends: [ { name: b, provider: openai-compatible, url: "http://127.0.0.1:1" } ]
        pools: [ { name: p, members: [ { backend: b } ] } ]
        models:
          - { name: m, pool: p, price: { inputPerMillion: 2.5, outputPerMillion: 10, cachedInputPerMillion: 1.25 } }
        limits:
        %s
        consumers:
          - { name: c, keys: [ "%s" ], models: [ "*" ], limits: %s }
          - { name: d, keys: [ "%s" ], models: [ "*" ], limits: %s }
        """.formatted(limits, ApiKeys.hash("k1"), consumerLimits, ApiKeys.hash("k2"), consumerLimits), "t", null);
    return new Limiter(config, store, new LocalLimitStore(), Limiter.Observer.NONE);
  }

  private static Limiter.Facts facts(String consumer, long prompt, long completion) {
    return new Limiter.Facts(consumer, "10.0.0.1", Map.of("x-team", "blue"), Map.of("tenant", "acme"), "m", prompt,
        completion);
  }

  @Test
  void tokensPerMinuteRefusesWhatCannotFitWithTheExactRetryAfter() throws Exception {
    Limiter l = limiter("  - { name: tpm, tokensPerMinute: 1000 }", "[ tpm ]");
    assertInstanceOf(Limiter.Admitted.class, l.admit(facts("c", 300, 300))); // t=0: 600
    clock.addAndGet(20_000);
    var second = assertInstanceOf(Limiter.Admitted.class, l.admit(facts("c", 100, 200))); // t=20: 900
    assertEquals("100", second.headers().get("x-ratelimit-remaining-tokens"));
    assertEquals("1000", second.headers().get("x-ratelimit-limit-tokens"));
    clock.addAndGet(10_000); // t=30
    var refused = assertInstanceOf(Limiter.Refused.class, l.admit(facts("c", 200, 200)));
    assertEquals(429, refused.error().status());
    assertEquals("tokens_per_minute_exceeded", refused.error().code());
    assertEquals(31, refused.retryAfterSeconds(), "the t=0 charge leaves the window at t=61");
    clock.addAndGet(30_000); // t=60: still counted
    assertInstanceOf(Limiter.Refused.class, l.admit(facts("c", 200, 200)));
    clock.addAndGet(1_000); // t=61: the first 600 left the window
    assertInstanceOf(Limiter.Admitted.class, l.admit(facts("c", 200, 200)));
  }

  @Test
  void noSixtySecondWindowEverAdmitsMoreThanTheLimit() throws Exception {
    Limiter l = limiter("  - { name: tpm, tokensPerMinute: 1000 }", "[ tpm ]");
    long[] admittedAt = new long[400];
    long[] cost = new long[400];
    int n = 0;
    for (int step = 0; step < 400; step++) {
      clock.addAndGet(700); // a request every 0.7 s, each 90 tokens
      if (l.admit(facts("c", 40, 50)) instanceof Limiter.Admitted) {
        admittedAt[n] = clock.get();
        cost[n++] = 90;
      }
    }
    for (int i = 0; i < n; i++) {
      long sum = 0;
      for (int j = i; j < n && admittedAt[j] < admittedAt[i] + 60_000; j++) {
        sum += cost[j];
      }
      assertTrue(sum <= 1000, "window from " + admittedAt[i] + " admitted " + sum);
    }
    // And it is not over-strict: over 280 s about 280/61 windows' worth of 11 requests got in.
    assertTrue(n >= 40, "admitted only " + n);
  }

  @Test
  void reconcileRefundsUnusedAndChargesOverruns() throws Exception {
    Limiter l = limiter("  - { name: tpm, tokensPerMinute: 1000 }", "[ tpm ]");
    var a = assertInstanceOf(Limiter.Admitted.class, l.admit(facts("c", 100, 800)));
    assertInstanceOf(Limiter.Refused.class, l.admit(facts("c", 100, 100)));
    a.reservation().reconcile(100, 0, 50); // used 150 of 900
    var b = assertInstanceOf(Limiter.Admitted.class, l.admit(facts("c", 100, 100)));
    assertEquals("650", b.headers().get("x-ratelimit-remaining-tokens"));
    b.reservation().reconcile(100, 0, 500); // ran over its reservation by 400
    var c = assertInstanceOf(Limiter.Admitted.class, l.admit(facts("c", 10, 0)));
    assertEquals(Long.toString(1000 - 150 - 600 - 10), c.headers().get("x-ratelimit-remaining-tokens"));
    a.reservation().reconcile(999, 0, 999); // a second settle is ignored
    assertEquals(Long.toString(1000 - 150 - 600 - 20), assertInstanceOf(Limiter.Admitted.class,
        l.admit(facts("c", 10, 0))).headers().get("x-ratelimit-remaining-tokens"));
  }

  @Test
  void quotaIsExactPerCalendarPeriodAndRefusedWith403() throws Exception {
    Limiter l = limiter("  - { name: daily, quota: { tokens: 1000, period: day } }", "[ daily ]");
    var a = assertInstanceOf(Limiter.Admitted.class, l.admit(facts("c", 400, 500)));
    a.reservation().reconcile(400, 0, 100);
    var b = assertInstanceOf(Limiter.Admitted.class, l.admit(facts("c", 300, 200)));
    b.reservation().reconcile(300, 0, 200);
    var refused = assertInstanceOf(Limiter.Refused.class, l.admit(facts("c", 1, 0)));
    assertEquals(403, refused.error().status());
    assertEquals("token_quota_exceeded", refused.error().code());
    assertInstanceOf(Limiter.Admitted.class, l.admit(facts("d", 1, 0)), "another consumer has its own quota");
    clock.addAndGet(14 * 3_600_000L); // past midnight UTC
    assertInstanceOf(Limiter.Admitted.class, l.admit(facts("c", 900, 100)), "a new day, a new quota");
  }

  @Test
  void budgetChargesAtModelPricesIncludingCachedInput() throws Exception {
    Limiter l = limiter("  - { name: money, budget: { usd: 0.01, period: month } }", "[ money ]");
    // 1000 in × $2.5/M + 500 out × $10/M = $0.0075 reserved
    var a = assertInstanceOf(Limiter.Admitted.class, l.admit(facts("c", 1000, 500)));
    assertEquals(7500, a.reservation().reservedCostMicros());
    assertInstanceOf(Limiter.Refused.class, l.admit(facts("c", 1000, 500)));
    // Used: 1000 in of which 800 cached, 100 out: 200×2.5 + 800×1.25 + 100×10 = 2500 µ$
    assertEquals(2500, a.reservation().reconcile(1000, 800, 100));
    var b = assertInstanceOf(Limiter.Admitted.class, l.admit(facts("c", 1000, 500)));
    assertEquals("0.000000", b.headers().get("x-weir-budget-remaining-usd"));
    assertEquals("budget_exceeded", assertInstanceOf(Limiter.Refused.class, l.admit(facts("c", 1, 0))).error().code());
  }

  @Test
  void everyLimitMustAdmitAndARefusalGivesBackWhatOthersTook() throws Exception {
    Limiter l = limiter("""
          - { name: per-consumer, tokensPerMinute: 10000 }
          - { name: per-team, key: "header:x-team", tokensPerMinute: 1000 }
          - { name: per-ip, key: client-ip, requestsPerMinute: 100 }
          - { name: per-tenant, key: "jwt:tenant", quota: { tokens: 100000, period: month } }
        """, "[ per-consumer, per-team, per-ip, per-tenant ]");
    assertInstanceOf(Limiter.Admitted.class, l.admit(facts("c", 400, 400)));
    var refused = assertInstanceOf(Limiter.Refused.class, l.admit(facts("d", 400, 400)));
    assertEquals("per-team", refused.limit(), "team blue is shared by c and d");
    var next = assertInstanceOf(Limiter.Admitted.class, l.admit(facts("d", 100, 0)));
    assertEquals("98", next.headers().get("x-ratelimit-remaining-requests"),
        "the refused request's RPM charge was given back");
    assertEquals(Long.toString(100000 - 800 - 100), next.headers().get("x-weir-quota-remaining-tokens"));
  }

  @Test
  void requestBiggerThanTheWholeLimitSaysSo() throws Exception {
    Limiter l = limiter("  - { name: tpm, tokensPerMinute: 1000 }", "[ tpm ]");
    var refused = assertInstanceOf(Limiter.Refused.class, l.admit(facts("c", 900, 900)));
    assertTrue(refused.error().message().contains("more than limit \"tpm\" allows in a minute"), refused.error().message());
  }

  @Test
  void standingShowsEveryKindOfEveryLevelWithWhatIsUsedAndChangesNothing() throws Exception {
    Limiter l = limiter("""
          - { name: tpm, tokensPerMinute: 1000, requestsPerMinute: 10 }
          - { name: monthly, quota: { tokens: 50000, period: month }, budget: { usd: 2, period: day } }
          - { name: per-ip, key: client-ip, tokensPerMinute: 500 }""", "[ tpm, monthly, per-ip ]");
    l.admit(facts("c", 300, 100)).getClass();
    var consumer = dev.weir.config.v1.Consumer.newBuilder().setName("c").build();
    var first = l.standing(consumer, java.util.List.of("m"));
    assertEquals(java.util.List.of(
        new Limiter.Standing("tpm", "consumer", "tokens_per_minute", "consumer", "minute", "tokens", 400, 1000, null),
        new Limiter.Standing("tpm", "consumer", "requests_per_minute", "consumer", "minute", "requests", 1, 10, null),
        new Limiter.Standing("monthly", "consumer", "token_quota", "consumer", "month", "tokens", 400, 50000, null),
        // 300 × $2.5/M + 100 × $10/M = $0.00175 reserved
        new Limiter.Standing("monthly", "consumer", "budget", "consumer", "day", "usd_micros", 1750, 2_000_000, null),
        new Limiter.Standing("per-ip", "consumer", "tokens_per_minute", "client-ip", "minute", "tokens", -1, 500, null)),
        first);
    assertEquals(first, l.standing(consumer, java.util.List.of("m")), "reading twice charges nothing");
    var other = dev.weir.config.v1.Consumer.newBuilder().setName("d").build();
    assertEquals(0, l.standing(other, java.util.List.of("m")).get(0).used(), "d has its own counters");
  }
}
