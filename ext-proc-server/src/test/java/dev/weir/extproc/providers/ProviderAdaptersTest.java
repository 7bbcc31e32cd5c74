package dev.weir.extproc.providers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
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
    assertEquals(ProviderAdapters.STRIPPED_CLIENT_HEADERS.stream().filter(h -> !List.of("api-key").contains(h)).toList(), plan.removeHeaders());
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
    assertEquals(ProviderAdapters.STRIPPED_CLIENT_HEADERS.stream().filter(h -> !List.of("authorization").contains(h)).toList(), plan.removeHeaders());
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
    assertEquals(ProviderAdapters.STRIPPED_CLIENT_HEADERS, plan.removeHeaders());
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

  @Test
  void azureServesTheResponsesApiOnItsV1PathWithTheDeploymentAsModel() throws Exception {
    BackendTarget b = backend(Provider.AZURE_OPENAI, "https://r.openai.azure.com", "k");
    PoolMember m = PoolMember.newBuilder().setDeployment("gpt-4o-ptu").build();
    AttemptPlan plan = plan(Endpoint.RESPONSES, null, b, m, "gpt-4o");
    assertEquals("/openai/v1/responses", plan.path());
    assertEquals(Map.of("api-key", "k"), plan.setHeaders());
    assertTrue(plan.rewritesBody());
    ObjectNode body = (ObjectNode) Json.MAPPER.readTree("{\"model\":\"gpt-4o\",\"input\":\"hi\"}");
    byte[] rewritten = ProviderAdapters.of(Provider.AZURE_OPENAI).rewriteBody(new Attempt(Endpoint.RESPONSES, null, b, m, "gpt-4o"), body);
    assertEquals("gpt-4o-ptu", Json.MAPPER.readTree(rewritten).path("model").asText());
  }

  @Test
  void messagesAreServedByAnthropicOnlyAndResponsesByOpenAiSpeakersOnly() {
    assertTrue(ProviderAdapters.of(Provider.ANTHROPIC).serves(Endpoint.MESSAGES));
    assertFalse(ProviderAdapters.of(Provider.ANTHROPIC).serves(Endpoint.RESPONSES));
    for (Provider p : List.of(Provider.OPENAI, Provider.OPENAI_COMPATIBLE, Provider.AZURE_OPENAI)) {
      assertFalse(ProviderAdapters.of(p).serves(Endpoint.MESSAGES), p.name());
      assertTrue(ProviderAdapters.of(p).serves(Endpoint.RESPONSES), p.name());
    }
  }

  @Test
  void nativeMessagesPassThroughToAnthropicWithTheMembersModel() throws Exception {
    BackendTarget b = backend(Provider.ANTHROPIC, "https://api.anthropic.com", "sk-ant");
    PoolMember m = PoolMember.newBuilder().setModel("claude-sonnet-4-5-20250929").build();
    AttemptPlan plan = plan(Endpoint.MESSAGES, null, b, m, "claude");
    assertEquals("/v1/messages", plan.path());
    assertEquals("sk-ant", plan.setHeaders().get("x-api-key"));
    ObjectNode body = (ObjectNode) Json.MAPPER.readTree(
        "{\"model\":\"claude\",\"max_tokens\":5,\"system\":\"s\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    JsonNode sent = Json.MAPPER.readTree(ProviderAdapters.of(Provider.ANTHROPIC)
        .rewriteBody(new Attempt(Endpoint.MESSAGES, null, b, m, "claude"), body.deepCopy()));
    ((ObjectNode) body).put("model", "claude-sonnet-4-5-20250929");
    assertEquals(body, sent, "only the model changes");
  }
}
