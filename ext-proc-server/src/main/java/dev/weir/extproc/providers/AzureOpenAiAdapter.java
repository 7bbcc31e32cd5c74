package dev.weir.extproc.providers;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weir.extproc.backendauth.EntraTokens;
import dev.weir.extproc.openai.Endpoint;
import dev.weir.extproc.routing.BackendTarget;
import dev.weir.extproc.openai.Json;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Azure OpenAI: the deployment and {@code api-version} in the path, the key in {@code api-key} (or an
 * Entra ID access token in {@code Authorization}).
 * The body is sent as the client wrote it (Azure serves the deployment's model whatever it names),
 * except for the Responses API, which names the deployment in the body's {@code model}.
 */
public final class AzureOpenAiAdapter implements ProviderAdapter {
  /**
   * Azure serves the Responses API on its v1 surface only, outside the deployment paths:
   * {@code POST https://{resource}.openai.azure.com/openai/v1/responses} with the deployment name as
   * {@code model} and no {@code api-version} ("Azure OpenAI Responses API",
   * https://learn.microsoft.com/azure/ai-foundry/openai/how-to/responses; the v1 API needs no
   * api-version: https://learn.microsoft.com/azure/ai-foundry/openai/api-version-lifecycle).
   */
  static final String RESPONSES_PATH = "/openai/v1/responses";

  @Override
  public boolean serves(Endpoint endpoint) {
    return endpoint != Endpoint.MESSAGES;
  }

  @Override
  public AttemptPlan plan(Attempt attempt) {
    var backend = attempt.backend();
    if (attempt.endpoint() == Endpoint.RESPONSES) {
      Map<String, String> set = credentialHeaders(backend);
      return new AttemptPlan(backend.basePath() + RESPONSES_PATH, set,
          ProviderAdapters.strippedHeaders(set, attempt.backend()), true);
    }
    String path = backend.basePath() + "/openai/deployments/"
        + URLEncoder.encode(attempt.member().getDeployment(), StandardCharsets.UTF_8).replace("+", "%20")
        + attempt.endpoint().azureSuffix()
        + "?api-version=" + URLEncoder.encode(backend.apiVersion(), StandardCharsets.UTF_8);
    Map<String, String> set = credentialHeaders(backend);
    return new AttemptPlan(path, set, ProviderAdapters.strippedHeaders(set, attempt.backend()), false);
  }

  /** The key in {@code api-key}, or an Entra ID access token as {@code Authorization: Bearer}. */
  private static Map<String, String> credentialHeaders(BackendTarget backend) {
    Map<String, String> set = new LinkedHashMap<>();
    if (backend.entra() == null) {
      set.put("api-key", backend.credential());
      return set;
    }
    try {
      set.put("authorization", "Bearer " + backend.entra().token());
    } catch (EntraTokens.UnavailableException e) {
      throw new CredentialUnavailableException(e.getMessage());
    }
    return set;
  }

  /** Only the Responses API rewrites: the deployment goes in {@code model}. */
  @Override
  public byte[] rewriteBody(Attempt attempt, ObjectNode clientBody) {
    String deployment = attempt.member().getDeployment();
    clientBody.put("model", deployment.isEmpty() ? attempt.upstreamModel() : deployment);
    return Json.bytes(clientBody);
  }
}
