package dev.weir.extproc.auth;

import dev.weir.extproc.pipeline.Decision;
import dev.weir.extproc.pipeline.ExchangeState;
import dev.weir.extproc.pipeline.Mutation;
import dev.weir.extproc.pipeline.Stage;

/**
 * Authenticates the caller by its Weir key ({@code Authorization: Bearer} or {@code api-key}),
 * answers 401 otherwise, and removes the client's credentials so no backend ever sees them.
 */
public final class AuthenticationStage implements Stage {
  @Override
  public String name() {
    return "authenticate";
  }

  @Override
  public Decision onRequestHeaders(ExchangeState exchange, Mutation mutation) {
    var headers = exchange.requestHeaders();
    Authenticator.Result auth = exchange.gateway().authenticator().authenticate(
        headers.get("authorization"), headers.get("api-key"));
    if (auth instanceof Authenticator.Rejected rejected) {
      return Decision.reject(rejected.error());
    }
    exchange.caller(((Authenticator.Authenticated) auth).caller());
    mutation.removeHeader("authorization").removeHeader("api-key");
    return Decision.proceed();
  }
}
