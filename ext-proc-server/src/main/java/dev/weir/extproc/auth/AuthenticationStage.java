package dev.weir.extproc.auth;

import dev.weir.extproc.pipeline.Decision;
import dev.weir.extproc.pipeline.ExchangeState;
import dev.weir.extproc.pipeline.Mutation;
import dev.weir.extproc.pipeline.Stage;

/**
 * Authenticates the caller by its Weir key ({@code Authorization: Bearer}, {@code api-key} as Azure
 * SDKs send it, or {@code x-api-key} as Anthropic SDKs and Claude Code send it) or by a JWT of a
 * configured identity provider, answers 401
 * otherwise, and removes the client's credentials so no backend ever sees them.
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
        headers.get("authorization"), headers.getOrDefault("api-key", headers.get("x-api-key")));
    if (auth instanceof Authenticator.Rejected rejected) {
      return Decision.reject(rejected.error());
    }
    var authenticated = (Authenticator.Authenticated) auth;
    exchange.caller(authenticated.caller());
    exchange.record().keyId(authenticated.keyId());
    if (!authenticated.claims().isEmpty()) {
      // Weir validated this token itself: its claims key jwt:<claim> limits, whatever metadata says.
      exchange.jwtClaims(authenticated.claims());
    }
    mutation.removeHeader("authorization").removeHeader("api-key").removeHeader("x-api-key");
    return Decision.proceed();
  }
}
