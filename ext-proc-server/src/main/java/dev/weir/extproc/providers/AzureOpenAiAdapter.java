package dev.weir.extproc.providers;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Azure OpenAI: the deployment and {@code api-version} in the path, the key in {@code api-key}.
 * The body is sent as the client wrote it (Azure serves the deployment's model whatever it names).
 */
public final class AzureOpenAiAdapter implements ProviderAdapter {
  @Override
  public AttemptPlan plan(Attempt attempt) {
    var backend = attempt.backend();
    String path = backend.basePath() + "/openai/deployments/"
        + URLEncoder.encode(attempt.member().getDeployment(), StandardCharsets.UTF_8).replace("+", "%20")
        + attempt.endpoint().azureSuffix()
        + "?api-version=" + URLEncoder.encode(backend.apiVersion(), StandardCharsets.UTF_8);
    Map<String, String> set = new LinkedHashMap<>();
    set.put("api-key", backend.credential());
    return new AttemptPlan(path, set, ProviderAdapters.clientCredentialsNotSet(set), false);
  }
}
