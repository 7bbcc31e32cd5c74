package dev.weir.extproc.providers;

import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * Everything the gateway does differently for one provider: it plans each upstream attempt (path,
 * headers, credential, body) in the upstream pass. A new provider is one class implementing this,
 * one row in {@link ProviderAdapters} and one in {@code dev.weir.config.ProviderRules}.
 *
 * <p>Adapters are stateless and shared by every exchange.
 */
public interface ProviderAdapter {
  /** Plans one attempt. Runs on every attempt, since a retry may reach another provider. */
  AttemptPlan plan(Attempt attempt);

  /**
   * The body this attempt sends, from the client's body (Envoy resends the router's body on every
   * retry, never a previous attempt's rewrite). Called only when the plan rewrites the body.
   */
  default byte[] rewriteBody(Attempt attempt, ObjectNode clientBody) {
    throw new IllegalStateException(getClass().getSimpleName() + " planned no body rewrite");
  }
}
