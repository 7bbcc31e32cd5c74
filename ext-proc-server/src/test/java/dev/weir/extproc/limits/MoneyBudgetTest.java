package dev.weir.extproc.limits;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.v1.Budget;
import dev.weir.config.v1.Period;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class MoneyBudgetTest {
  private final AtomicLong clock = new AtomicLong(1_795_428_000_000L);
  private final LocalLimitStore store = new LocalLimitStore(100, clock::get);
  private final MoneyBudget budget = new MoneyBudget(Budget.newBuilder().setUsd(0.05).setPeriod(Period.MONTH).build());

  @Test
  void countsMicroDollarsNotTokens() {
    assertEquals(50_000, budget.ceiling());
    LimitKind.Demand demand = new LimitKind.Demand(1000, 500, 7500);
    assertEquals(7500, budget.reserve(demand));
    assertEquals(2500, budget.used(new LimitKind.Usage(1100, 2500), 7500));
  }

  @Test
  void aMonthsBudgetIsOneCounterForTheMonth() {
    assertEquals("team|c|budget|2026-11", budget.take(store, "team|c", 1).key());
  }

  @Test
  void refusalIs403InDollars() {
    budget.take(store, "k", 45_000);
    LimitKind.Taken t = budget.take(store, "k", 7500);
    assertFalse(t.admitted());
    Limiter.Refused refused = budget.refusal("money", 7500, t, new LimitKind.Demand(1000, 500, 7500));
    assertEquals(403, refused.error().status());
    assertEquals("budget_exceeded", refused.error().code());
    assertEquals("Budget \"money\" of $0.05 for this month is used up ($0.0050 left; this request may cost $0.0075).",
        refused.error().message());
  }

  @Test
  void headersShowDollarsWithMicroDollarPrecision() {
    Map<String, String> headers = new LinkedHashMap<>();
    LimitKind.Taken t = budget.take(store, "k", 1234);
    assertTrue(t.admitted());
    budget.report(headers, t.remaining());
    assertEquals(Map.of("x-weir-budget-limit-usd", "0.05", "x-weir-budget-remaining-usd", "0.048766"), headers);
  }
}
