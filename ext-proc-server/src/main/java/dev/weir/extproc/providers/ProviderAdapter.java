package dev.weir.extproc.providers;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weir.extproc.openai.ParsedRequest;
import dev.weir.extproc.routing.BackendTarget;
import java.util.Map;

/**
 * Everything the gateway does differently for one provider: it plans each upstream attempt (path,
 * headers, credential, body) in the upstream pass, and translates the backend's answer back for the
 * client in the router pass (which learns the backend that answered from the host's metadata). A
 * new provider is one class implementing this,
 * one row in {@link ProviderAdapters} and one in {@code dev.weir.config.ProviderRules}.
 *
 * <p>Adapters are stateless and shared by every exchange.
 */
public interface ProviderAdapter {
  /** Whether this provider can serve the client's operation at all. */
  default boolean serves(dev.weir.extproc.openai.Endpoint endpoint) {
    return true;
  }

  /** Plans one attempt. Runs on every attempt, since a retry may reach another provider. */
  AttemptPlan plan(Attempt attempt);

  /**
   * The body this attempt sends, from the client's body (Envoy resends the router's body on every
   * retry, never a previous attempt's rewrite). Called only when the plan rewrites the body.
   */
  default byte[] rewriteBody(Attempt attempt, ObjectNode clientBody) {
    throw new IllegalStateException(getClass().getSimpleName() + " planned no body rewrite");
  }

  /**
   * Headers to set along with the rewritten body, computed from its final bytes: a request
   * signature covering the body, or a path that depends on the client's body. Called after
   * {@link #rewriteBody} on every attempt that rewrites the body.
   */
  default Map<String, String> headersForBody(Attempt attempt, ObjectNode clientBody, byte[] body) {
    return Map.of();
  }

  /**
   * A translator of this backend's answer to the client's request, or null when the backend
   * already answers in the client's dialect.
   */
  default ResponseTranslator translator(ParsedRequest clientRequest, BackendTarget backend) {
    return null;
  }
}
