package dev.weir.extproc.limits;

import dev.weir.config.v1.Quota;
import dev.weir.extproc.openai.ApiError;
import java.util.Map;

/** {@code quota}: tokens per calendar period; used up means 403 until the next period. */
final class TokenQuota extends CalendarPeriodKind {
  TokenQuota(Quota quota) {
    super(quota.getTokens(), "quota", quota.getPeriod(), quota.getTimeZone());
  }

  @Override
  public String label() {
    return "token_quota";
  }

  @Override
  public long reserve(Demand demand) {
    return demand.tokens();
  }

  @Override
  public long used(Usage usage, long reserved) {
    return usage.tokens();
  }

  @Override
  public Limiter.Refused refusal(String limitName, long amount, Taken taken, Demand demand) {
    return new Limiter.Refused(new ApiError(403, "insufficient_quota", "token_quota_exceeded",
        "Token quota \"" + limitName + "\" for this " + periodName() + " is used up (" + taken.remaining() + " of "
            + ceiling() + " left; this request needs about " + demand.tokens() + ")."), 0, limitName);
  }

  @Override
  public void report(Map<String, String> headers, long remaining) {
    String shown = headers.get("x-weir-quota-remaining-tokens");
    if (shown == null || remaining < Long.parseLong(shown)) {
      headers.put("x-weir-quota-limit-tokens", Long.toString(ceiling()));
      headers.put("x-weir-quota-remaining-tokens", Long.toString(remaining));
    }
  }
}
