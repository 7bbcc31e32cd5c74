package dev.weir.extproc.limits;

import dev.weir.extproc.openai.ApiError;

/** {@code requestsPerMinute}: one per request, in a sliding minute. */
final class RequestsPerMinute extends SlidingWindowKind {
  RequestsPerMinute(long requestsPerMinute) {
    super(requestsPerMinute, "rpm", "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests");
  }

  @Override
  public String label() {
    return "requests_per_minute";
  }

  @Override
  public long reserve(Demand demand) {
    return 1;
  }

  @Override
  public long used(Usage usage, long reserved) {
    return reserved; // the request happened whatever it used
  }

  @Override
  public Limiter.Refused refusal(String limitName, long amount, Taken taken, Demand demand) {
    return new Limiter.Refused(new ApiError(429, "rate_limit_exceeded", "requests_per_minute_exceeded",
        "Limit \"" + limitName + "\" of " + ceiling() + " requests per minute is reached. Retry after "
            + taken.retryAfterSeconds() + " s."), taken.retryAfterSeconds(), limitName);
  }
}
