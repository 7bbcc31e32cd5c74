package dev.weir.extproc.limits;

import dev.weir.config.v1.Budget;
import dev.weir.extproc.openai.ApiError;
import java.util.Locale;
import java.util.Map;

/** {@code budget}: US dollars per calendar period, counted in micro-dollars at the models' prices. */
final class MoneyBudget extends CalendarPeriodKind {
  private final double usd;

  MoneyBudget(Budget budget) {
    super((long) Math.floor(budget.getUsd() * 1e6), "budget", budget.getPeriod(), budget.getTimeZone());
    this.usd = budget.getUsd();
  }

  @Override
  public String label() {
    return "budget";
  }

  @Override
  public long reserve(Demand demand) {
    return demand.costMicros();
  }

  @Override
  public long used(Usage usage, long reserved) {
    return usage.costMicros();
  }

  @Override
  public Limiter.Refused refusal(String limitName, long amount, Taken taken, Demand demand) {
    return new Limiter.Refused(new ApiError(403, "insufficient_quota", "budget_exceeded",
        String.format(Locale.ROOT, "Budget \"%s\" of $%.2f for this %s is used up ($%.4f left; this request may"
            + " cost $%.4f).", limitName, usd, periodName(), taken.remaining() / 1e6, amount / 1e6)),
        0, limitName);
  }

  @Override
  public void report(Map<String, String> headers, long remaining) {
    String shown = headers.get("x-weir-budget-remaining-usd");
    if (shown == null || remaining < Double.parseDouble(shown) * 1e6) {
      headers.put("x-weir-budget-limit-usd", String.format(Locale.ROOT, "%.2f", ceiling() / 1e6));
      headers.put("x-weir-budget-remaining-usd", String.format(Locale.ROOT, "%.6f", remaining / 1e6));
    }
  }
}
