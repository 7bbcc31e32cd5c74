package dev.weir.extproc.breaker;

import dev.weir.extproc.openai.ApiError;
import dev.weir.extproc.pipeline.Decision;
import dev.weir.extproc.pipeline.ExchangeState;
import dev.weir.extproc.pipeline.Mutation;
import dev.weir.extproc.pipeline.Stage;
import dev.weir.extproc.session.GatewayHeaders;
import java.util.Map;

/**
 * The router pass's breaker check: when every member of the request's pool is tripped, it answers
 * at once (429, or 503 if the pool says so) with the soonest trip end as {@code Retry-After},
 * without sending the request anywhere, except the pool's probe ({@code allTrippedProbeMillis}),
 * which it marks for the upstream pass. It runs before the limits stage, so a refused request
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
    Breakers.Admission admission = exchange.gateway().breakers().admit(pool);
    if (admission.probe()) {
      // The upstream pass reads it on every attempt: a good answer to a probe ends a trip early.
      mutation.setHeader(GatewayHeaders.BREAKER_PROBE, "1");
    }
    Breakers.AllTripped all = admission.refused();
    if (all == null) {
      return Decision.proceed();
    }
    ApiError error = new ApiError(all.status(), all.status() == 429 ? "rate_limit_exceeded" : "server_error",
        "backends_throttled", "Every backend serving model `" + exchange.request().model() + "` is throttled;"
            + " retry after " + all.retryAfterSeconds() + " s.");
    return Decision.reject(error, Map.of("retry-after", Long.toString(all.retryAfterSeconds())));
  }
}
