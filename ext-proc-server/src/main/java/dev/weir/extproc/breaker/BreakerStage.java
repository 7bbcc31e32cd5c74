package dev.weir.extproc.breaker;

import dev.weir.extproc.openai.ApiError;
import dev.weir.extproc.pipeline.Decision;
import dev.weir.extproc.pipeline.ExchangeState;
import dev.weir.extproc.pipeline.Mutation;
import dev.weir.extproc.pipeline.Stage;
import java.util.Map;

/**
 * The router pass's breaker check: when every member of the request's pool is tripped, it answers
 * at once (429, or 503 if the pool says so) with the soonest trip end as {@code Retry-After},
 * without sending the request anywhere. It runs before the limits stage, so such a request
 * reserves no tokens.
 */
public final class BreakerStage implements Stage {
  @Override
  public String name() {
    return "breaker";
  }

  @Override
  public Decision onRequestBody(ExchangeState exchange, Mutation mutation) {
    String pool = exchange.pool();
    if (pool == null) {
      return Decision.proceed();
    }
    Breakers.AllTripped all = exchange.gateway().breakers().allTripped(pool);
    if (all == null) {
      return Decision.proceed();
    }
    ApiError error = new ApiError(all.status(), all.status() == 429 ? "rate_limit_exceeded" : "server_error",
        "backends_throttled", "Every backend serving model `" + exchange.request().model() + "` is throttled;"
            + " retry after " + all.retryAfterSeconds() + " s.");
    return Decision.reject(error, Map.of("retry-after", Long.toString(all.retryAfterSeconds())));
  }
}
