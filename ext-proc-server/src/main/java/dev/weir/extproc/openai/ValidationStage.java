package dev.weir.extproc.openai;

import dev.weir.extproc.pipeline.Decision;
import dev.weir.extproc.pipeline.ExchangeState;
import dev.weir.extproc.pipeline.Mutation;
import dev.weir.extproc.pipeline.Stage;

/**
 * Refuses what the gateway cannot serve with a 400 the SDKs understand: a missing or oversized
 * body, malformed JSON, a request without its model or required input.
 */
public final class ValidationStage implements Stage {
  @Override
  public String name() {
    return "validate";
  }

  @Override
  public Decision onRequestHeaders(ExchangeState exchange, Mutation mutation) {
    if (exchange.bodyless() && exchange.endpoint() != Endpoint.MODELS) {
      return Decision.reject(ApiError.badRequest("missing_body", "The request body is empty; send a JSON object."));
    }
    return Decision.proceed();
  }

  @Override
  public Decision onRequestBody(ExchangeState exchange, Mutation mutation) {
    int limit = exchange.gateway().maxRequestBytes();
    int size = exchange.requestBody().length;
    if (size > limit) {
      return Decision.reject(new ApiError(413, "invalid_request_error", "request_too_large", "The request body has "
          + size + " bytes; this gateway accepts at most " + limit + "."));
    }
    if (exchange.parsed() instanceof ParsedRequest.Invalid invalid) {
      return Decision.reject(invalid.error());
    }
    exchange.record().model(exchange.request().model());
    return Decision.proceed();
  }
}
