package dev.weir.extproc.providers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weir.config.v1.PoolMember;
import dev.weir.config.v1.Provider;
import dev.weir.extproc.openai.Endpoint;
import dev.weir.extproc.openai.Json;
import dev.weir.extproc.routing.BackendTarget;
import java.net.URI;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ProviderAdaptersTest {
  private static BackendTarget backend(Provider p, String url, String key) {
    return new BackendTarget("b", p, URI.create(url), p == Provider.AZURE_OPENAI ? "2024-10-21" : "", key);
  }

  private static AttemptPlan plan(Endpoint e, String query, BackendTarget b, PoolMember m, String model) {
    return ProviderAdapters.of(b.provider()).plan(new Attempt(e, query, b, m, model));
  }

  @Test
  void azureAddressesTheDeploymentWithApiVersionAndApiKey() {
    AttemptPlan plan = plan(Endpoint.CHAT_COMPLETIONS, "ignored=1",
        backend(Provider.AZURE_OPENAI, "https://r.openai.azure.com", "k"),
        PoolMember.newBuilder().setDeployment("gpt 4o/ptu").build(), "gpt-4o");
    assertEquals("/openai/deployments/gpt%204o%2Fptu/chat/completions?api-version=2024-10-21", plan.path());
    assertEquals(Map.of("api-key", "k"), plan.setHeaders());
    assertEquals(List.of("authorization", "x-amz-security-token"), plan.removeHeaders());
    assertFalse(plan.rewritesBody(), "Azure takes the model from the deployment");
  }

  @Test
  void openAiKeepsPathAndQueryUnderTheBasePathAndRewritesTheModel() throws Exception {
    BackendTarget b = backend(Provider.OPENAI, "https://proxy.example/openai/", "sk");
    Attempt attempt = new Attempt(Endpoint.EMBEDDINGS, "x=1", b,
        PoolMember.newBuilder().setModel("text-embedding-3-large").build(), "emb");
    AttemptPlan plan = ProviderAdapters.of(b.provider()).plan(attempt);
    assertEquals("/openai/v1/embeddings?x=1", plan.path());
    assertEquals(Map.of("authorization", "Bearer sk"), plan.setHeaders());
    assertEquals(List.of("api-key", "x-amz-security-token"), plan.removeHeaders());
    assertTrue(plan.rewritesBody());
    ObjectNode client = (ObjectNode) Json.MAPPER.readTree("{\"model\":\"emb\",\"input\":\"hi\"}");
    byte[] body = ProviderAdapters.of(b.provider()).rewriteBody(attempt, client);
    assertEquals("{\"model\":\"text-embedding-3-large\",\"input\":\"hi\"}", new String(body));
  }

  @Test
  void memberNamingTheClientsModelNeedsNoBodyRewrite() {
    AttemptPlan plan = plan(Endpoint.CHAT_COMPLETIONS, null, backend(Provider.OPENAI, "https://api.openai.com", "sk"),
        PoolMember.newBuilder().setModel("gpt-4o").build(), "gpt-4o");
    assertFalse(plan.rewritesBody());
  }

  @Test
  void compatibleBackendWithoutKeyGetsNoCredentialAndKeepsTheModel() {
    AttemptPlan plan = plan(Endpoint.COMPLETIONS, null,
        backend(Provider.OPENAI_COMPATIBLE, "http://127.0.0.1:11434", null), PoolMember.getDefaultInstance(), "llama");
    assertEquals("/v1/completions", plan.path());
    assertEquals(Map.of(), plan.setHeaders());
    assertEquals(List.of("authorization", "api-key", "x-amz-security-token"), plan.removeHeaders());
    assertFalse(plan.rewritesBody());
  }

  @Test
  void everyProviderTheConfigAcceptsHasAnAdapter() {
    for (Provider p : Provider.values()) {
      if (p != Provider.PROVIDER_UNSPECIFIED && p != Provider.UNRECOGNIZED) {
        ProviderAdapters.of(p);
      }
    }
  }

  @Test
  void backendToStringNeverShowsTheCredential() {
    String s = backend(Provider.OPENAI, "https://api.openai.com", "sk-secret").toString();
    assertEquals(-1, s.indexOf("sk-secret"), s);
  }
}
