package dev.weir.extproc.providers;

import dev.weir.config.v1.PoolMember;
import dev.weir.extproc.openai.Endpoint;
import dev.weir.extproc.routing.BackendTarget;

/**
 * One upstream attempt as an adapter sees it: what the client asked for and the backend Envoy
 * chose for this try.
 *
 * @param query the client's raw query string without '?', or null
 * @param requestedModel the model the client asked for
 */
public record Attempt(Endpoint endpoint, String query, BackendTarget backend, PoolMember member,
    String requestedModel) {

  /** The model name to send this backend: the member's override, else the client's. */
  public String upstreamModel() {
    return member.getModel().isEmpty() ? requestedModel : member.getModel();
  }
}
