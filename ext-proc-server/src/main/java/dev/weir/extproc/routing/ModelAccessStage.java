package dev.weir.extproc.routing;

import dev.weir.extproc.openai.ApiError;
import dev.weir.extproc.pipeline.Decision;
import dev.weir.extproc.pipeline.ExchangeState;
import dev.weir.extproc.pipeline.Mutation;
import dev.weir.extproc.pipeline.Stage;

/**
 * Resolves the requested model to the pool that serves it (404 for a model the gateway does not
 * serve) and checks that the consumer may use it (403), before anything is counted or reserved.
 */
public final class ModelAccessStage implements Stage {
  @Override
  public String name() {
    return "model-access";
  }

  @Override
  public Decision onRequestBody(ExchangeState exchange, Mutation mutation) {
    String model = exchange.request().model();
    String pool = exchange.gateway().routing().poolFor(model);
    if (pool == null) {
      return Decision.reject(ApiError.notFound("model_not_found", "The model `" + model
          + "` does not exist or you do not have access to it."));
    }
    if (!exchange.caller().mayUse(model)) {
      return Decision.reject(ApiError.forbidden("model_not_allowed", "Consumer \""
          + exchange.caller().name() + "\" may not use model `" + model + "`."));
    }
    exchange.pool(pool);
    return Decision.proceed();
  }
}
