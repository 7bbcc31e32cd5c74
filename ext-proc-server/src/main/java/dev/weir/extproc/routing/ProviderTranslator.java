package dev.weir.extproc.routing;

import dev.weir.config.v1.PoolMember;
import dev.weir.extproc.openai.Endpoint;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Translates an OpenAI-shaped request for one backend's provider and injects that backend's
 * credential. Runs in the upstream pass, once per attempt, because a retry may reach another
 * provider.
 */
public final class ProviderTranslator {
  /** Client credentials never reach a backend (the router pass removed them already). */
  static final List<String> ALWAYS_REMOVED = List.of("authorization", "api-key");

  private ProviderTranslator() {}

  /**
   * @param query the client's raw query string without '?', or null
   * @param requestedModel the model the client asked for
   */
  public static UpstreamPlan plan(Endpoint endpoint, String query, BackendTarget backend,
      PoolMember member, String requestedModel) {
    Map<String, String> set = new LinkedHashMap<>();
    String path;
    String bodyModel = null;
    switch (backend.provider()) {
      case AZURE_OPENAI -> {
        path = backend.basePath() + "/openai/deployments/"
            + URLEncoder.encode(member.getDeployment(), StandardCharsets.UTF_8).replace("+", "%20")
            + endpoint.azureSuffix()
            + "?api-version=" + URLEncoder.encode(backend.apiVersion(), StandardCharsets.UTF_8);
        set.put("api-key", backend.credential());
      }
      case OPENAI, OPENAI_COMPATIBLE -> {
        path = backend.basePath() + endpoint.path() + (query == null || query.isEmpty() ? "" : "?" + query);
        if (backend.credential() != null) {
          set.put("authorization", "Bearer " + backend.credential());
        }
        if (!member.getModel().isEmpty() && !member.getModel().equals(requestedModel)) {
          bodyModel = member.getModel();
        }
      }
      default -> throw new IllegalStateException("provider " + backend.provider()
          + " passed config validation but has no translation");
    }
    // Removing only what we do not set keeps the mutation independent of whether Envoy applies
    // removals before or after sets.
    List<String> remove = ALWAYS_REMOVED.stream().filter(h -> !set.containsKey(h)).toList();
    return new UpstreamPlan(path, set, remove, bodyModel);
  }
}
