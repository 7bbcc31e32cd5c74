package dev.weir.extproc.limits;

import dev.weir.extproc.openai.ApiError;

/** {@code tokensPerMinute}: the prompt estimate plus the completion reservation, in a sliding minute. */
final class TokensPerMinute extends SlidingWindowKind {
  TokensPerMinute(long tokensPerMinute) {
    super(tokensPerMinute, "tpm", "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens");
  }

  @Override
  public String label() {
    return "tokens_per_minute";
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
    long ceiling = ceiling();
    // A request larger than the whole limit would never fit; retrying cannot help, so say why.
    String message = amount > ceiling
        ? "This request needs about " + amount + " tokens (" + demand.promptTokens() + " prompt + "
            + demand.completionReservation() + " reserved for the answer), more than limit \"" + limitName
            + "\" allows in a minute (" + ceiling + "). Lower max_tokens or shorten the prompt."
        : "Limit \"" + limitName + "\" of " + ceiling + " tokens per minute is reached; this request needs about "
            + amount + ". Retry after " + taken.retryAfterSeconds() + " s.";
    return new Limiter.Refused(new ApiError(429, "rate_limit_exceeded", "tokens_per_minute_exceeded", message),
        taken.retryAfterSeconds(), limitName);
  }
}
