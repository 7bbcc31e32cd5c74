package dev.weir.extproc.providers;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weir.extproc.openai.Endpoint;
import dev.weir.extproc.openai.Json;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * OpenAI and every server that speaks its API (vLLM, Ollama, LM Studio…): the client's path under
 * the backend's base path, a bearer key when the backend has one, and the member's model name.
 */
public final class OpenAiAdapter implements ProviderAdapter {
  /** Every OpenAI operation, Responses included; not Anthropic's Messages API. */
  @Override
  public boolean serves(Endpoint endpoint) {
    return endpoint != Endpoint.MESSAGES;
  }

  @Override
  public AttemptPlan plan(Attempt attempt) {
    Map<String, String> set = new LinkedHashMap<>();
    String query = attempt.query();
    String path = attempt.backend().basePath() + attempt.endpoint().path()
        + (query == null || query.isEmpty() ? "" : "?" + query);
    if (attempt.backend().credential() != null) {
      set.put("authorization", "Bearer " + attempt.backend().credential());
    }
    // The account the backend bills comes from its config, never from the client.
    if (!attempt.backend().config().getOrganization().isEmpty()) {
      set.put("openai-organization", attempt.backend().config().getOrganization());
    }
    if (!attempt.backend().config().getProject().isEmpty()) {
      set.put("openai-project", attempt.backend().config().getProject());
    }
    boolean rename = !attempt.upstreamModel().equals(attempt.requestedModel());
    return new AttemptPlan(path, set, ProviderAdapters.strippedHeaders(set, attempt.backend()), rename);
  }

  @Override
  public byte[] rewriteBody(Attempt attempt, ObjectNode clientBody) {
    clientBody.put("model", attempt.upstreamModel());
    return Json.bytes(clientBody);
  }
}
