package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.nimbusds.jwt.JWTClaimsSet;
import dev.weir.config.ConfigLoader;
import dev.weir.config.EntraCredentials;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.extproc.backendauth.ScriptedEntra;
import dev.weir.extproc.identity.ScriptedOidc;
import dev.weir.testkit.ExchangeResponse;
import dev.weir.testkit.ScriptedUpstream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * docs/identity.md shows examples/identity.yaml verbatim, and that config serves: Entra ID tokens
 * from a scripted OIDC provider authenticate clients, limits count per token claim, and the Azure
 * OpenAI backend receives an Entra ID token from a scripted token endpoint instead of a key.
 */
class IdentityDocExampleTest {
  private static final Path DOC = Path.of("..", "docs", "identity.md");
  private static final Path EXAMPLE = Path.of("..", "examples", "identity.yaml");
  private static final String TENANT = "7f3c0000-0000-4000-8000-00000000c0de";
  private static final String ISSUER = "https://login.microsoftonline.com/" + TENANT + "/v2.0";
  private static final String CLIENT_APP = "9c4d0000-0000-4000-8000-0000000c11e7";
  private static final String SECRET = "entra-client-secret-do-not-leak";
  private static final String CHAT = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

  private ScriptedOidc oidc;
  private ScriptedEntra entra;
  private ScriptedUpstream aoai;

  @BeforeEach
  void start() throws Exception {
    oidc = new ScriptedOidc();
    entra = new ScriptedEntra();
    aoai = new ScriptedUpstream("aoai");
  }

  @AfterEach
  void stop() {
    aoai.close();
    entra.close();
    oidc.close();
  }

  /** The example with the scripted OIDC provider, token endpoint and backend in place of Azure's. */
  private String runnable(String example) {
    return example.replace(ISSUER, oidc.issuer())
        .replace("authorityHost: https://login.microsoftonline.com", "authorityHost: " + entra.url())
        .replace("https://eastus.example.openai.azure.com", "UPSTREAM");
  }

  private Gateway gateway(String yaml) throws Exception {
    return new Gateway(yaml, aoai, Map.of("WEIR_AOAI_CLIENT_SECRET", SECRET));
  }

  private String token(String oid, String... roles) throws Exception {
    JWTClaimsSet claims = oidc.claims().audience("api://weir-gateway").claim("tid", TENANT).claim("azp", CLIENT_APP)
        .claim("oid", oid).claim("roles", List.of(roles)).build();
    return oidc.token(claims);
  }

  @Test
  void theDocShowsTheExampleFileVerbatim() throws Exception {
    String doc = Files.readString(DOC);
    String example = Files.readString(EXAMPLE);
    assertTrue(doc.contains("```yaml\n" + example + "```"), "docs/identity.md shows examples/identity.yaml verbatim");
  }

  @Test
  void everyEntraSnippetOfTheDocLoadsInPlaceOfTheExamplesCredential() throws Exception {
    String doc = Files.readString(DOC);
    String example = Files.readString(EXAMPLE);
    String credential = example.substring(example.indexOf("      entra:"), example.indexOf("pools:"));
    List<EntraCredentials.Method> methods = new ArrayList<>();
    for (int at = doc.indexOf("```yaml\nentra:"); at >= 0; at = doc.indexOf("```yaml\nentra:", at + 1)) {
      String snippet = doc.substring(at + "```yaml\n".length(), doc.indexOf("```", at + 8));
      String indented = snippet.lines().map(l -> "      " + l).reduce("", (a, l) -> a + l + "\n");
      GatewayConfig c = new ConfigLoader(Map.<String, String>of()::get, false)
          .parse(example.replace(credential, indented), "identity.md", null);
      methods.add(EntraCredentials.method(c.getBackends(0).getCredential().getEntra()));
    }
    assertEquals(List.of(EntraCredentials.Method.CERTIFICATE, EntraCredentials.Method.FEDERATED_TOKEN_FILE,
        EntraCredentials.Method.MANAGED_IDENTITY), methods);
  }

  @Test
  void aSignedInClientIsServedAndTheBackendGetsAnEntraTokenInsteadOfAKey() throws Exception {
    try (Gateway gw = gateway(runnable(Files.readString(EXAMPLE)))) {
      ExchangeResponse r = gw.chat(token("user-1", "Weir.Chat"), CHAT);
      assertEquals(200, r.status(), r.bodyText());
      ScriptedUpstream.Recorded sent = aoai.last();
      assertEquals("Bearer entra-token-1", sent.header("authorization"));
      assertNull(sent.header("api-key"));
      assertEquals(SECRET, entra.last().params().get("client_secret"));
      assertEquals("https://cognitiveservices.azure.com/.default", entra.last().params().get("scope"));
      assertEquals(200, gw.chat("sk-weir-chat-app-demo", CHAT).status(), "the consumer's key works too");
      assertEquals("Bearer entra-token-1", aoai.last().header("authorization"), "the token is cached");
      assertEquals(1, entra.requests().size());
    }
  }

  @Test
  void limitsKeyedOnATokenClaimCountEachUserApart() throws Exception {
    try (Gateway gw = gateway(runnable(Files.readString(EXAMPLE)).replace("requestsPerMinute: 60", "requestsPerMinute: 1"))) {
      assertEquals(200, gw.chat(token("user-1", "Weir.Chat"), CHAT).status());
      assertEquals(429, gw.chat(token("user-1", "Weir.Chat"), CHAT).status());
      assertEquals(200, gw.chat(token("user-2", "Weir.Chat"), CHAT).status());
    }
  }

  @Test
  void tokensThatFailValidationOrMatchNoConsumerAreRefusedWithoutEchoingThem() throws Exception {
    try (Gateway gw = gateway(runnable(Files.readString(EXAMPLE)))) {
      String noRole = token("user-1", "Other.Role");
      ExchangeResponse r = gw.chat(noRole, CHAT);
      assertEquals(403, r.status(), r.bodyText());
      assertTrue(r.bodyText().contains("token_not_authorized"), r.bodyText());
      String expired = oidc.token(oidc.claims().audience("api://weir-gateway").claim("tid", TENANT)
          .claim("azp", CLIENT_APP).claim("roles", List.of("Weir.Chat"))
          .expirationTime(Date.from(Instant.now().minusSeconds(600))).build());
      r = gw.chat(expired, CHAT);
      assertEquals(401, r.status());
      assertTrue(r.bodyText().contains("token_expired"), r.bodyText());
      assertFalse(r.bodyText().contains(expired.substring(0, 40)), r.bodyText());
      String otherTenant = oidc.token(oidc.claims().audience("api://weir-gateway").claim("tid", "other")
          .claim("azp", CLIENT_APP).claim("roles", List.of("Weir.Chat")).build());
      assertTrue(gw.chat(otherTenant, CHAT).bodyText().contains("missing_claim"));
      assertEquals(0, aoai.received().size(), "nothing reached the backend");
    }
  }

  @Test
  void whenNoBackendTokenCanBeHadTheAttemptFailsWithA503ThatLeaksNoSecret() throws Exception {
    entra.failWith(401);
    try (Gateway gw = gateway(runnable(Files.readString(EXAMPLE)))) {
      ExchangeResponse r = gw.chat(token("user-1", "Weir.Chat"), CHAT);
      assertEquals(503, r.status(), r.bodyText());
      assertTrue(r.bodyText().contains("backend_credential_unavailable"), r.bodyText());
      assertFalse(r.bodyText().contains(SECRET), r.bodyText());
      assertEquals(0, aoai.received().size());
    }
  }
}
