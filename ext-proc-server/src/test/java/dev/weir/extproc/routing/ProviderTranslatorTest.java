package dev.weir.extproc.routing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.weir.config.v1.PoolMember;
import dev.weir.config.v1.Provider;
import dev.weir.extproc.openai.Endpoint;
import java.net.URI;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ProviderTranslatorTest {
  private static BackendTarget backend(Provider p, String url, String key) {
    return new BackendTarget("b", p, URI.create(url), p == Provider.AZURE_OPENAI ? "2024-10-21" : "", key);
  }

  @Test
  void azureAddressesTheDeploymentWithApiVersionAndApiKey() {
    UpstreamPlan plan = ProviderTranslator.plan(Endpoint.CHAT_COMPLETIONS, "ignored=1",
        backend(Provider.AZURE_OPENAI, "https://r.openai.azure.com", "k"),
        PoolMember.newBuilder().setDeployment("gpt 4o/ptu").build(), "gpt-4o");
    assertEquals("/openai/deployments/gpt%204o%2Fptu/chat/completions?api-version=2024-10-21", plan.path());
    assertEquals(Map.of("api-key", "k"), plan.setHeaders());
    assertEquals(List.of("authorization"), plan.removeHeaders());
    assertNull(plan.bodyModel(), "Azure takes the model from the deployment");
  }

  @Test
  void openAiKeepsPathAndQueryUnderTheBasePathAndRewritesTheModel() {
    UpstreamPlan plan = ProviderTranslator.plan(Endpoint.EMBEDDINGS, "x=1",
        backend(Provider.OPENAI, "https://proxy.example/openai/", "sk"),
        PoolMember.newBuilder().setModel("text-embedding-3-large").build(), "emb");
    assertEquals("/openai/v1/embeddings?x=1", plan.path());
    assertEquals(Map.of("authorization", "Bearer sk"), plan.setHeaders());
    assertEquals(List.of("api-key"), plan.removeHeaders());
    assertEquals("text-embedding-3-large", plan.bodyModel());
  }

  @Test
  void compatibleBackendWithoutKeyGetsNoCredentialAndKeepsTheModel() {
    UpstreamPlan plan = ProviderTranslator.plan(Endpoint.COMPLETIONS, null,
        backend(Provider.OPENAI_COMPATIBLE, "http://127.0.0.1:11434", null), PoolMember.getDefaultInstance(), "llama");
    assertEquals("/v1/completions", plan.path());
    assertEquals(Map.of(), plan.setHeaders());
    assertEquals(List.of("authorization", "api-key"), plan.removeHeaders());
    assertNull(plan.bodyModel());
  }

  @Test
  void backendToStringNeverShowsTheCredential() {
    String s = backend(Provider.OPENAI, "https://api.openai.com", "sk-secret").toString();
    assertEquals(-1, s.indexOf("sk-secret"), s);
  }
}
