package dev.weir.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.v1.GatewayConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The loader's rules for identityProviders, consumers' token matchers and Entra ID backend credentials. */
class IdentityConfigTest {
  private static final Map<String, String> ENV = Map.of("AOAI_SECRET", "s3cret-value");
  private final ConfigLoader loader = new ConfigLoader(ENV::get, true);

  private static final String VALID = """
      identityProviders:
        - name: entra
          issuer: https://login.microsoftonline.com/tid-1/v2.0
          audiences: [ api://weir ]
      backends:
        - name: aoai
          provider: azure-openai
          url: https://eastus.example.openai.azure.com
          apiVersion: 2024-10-21
          credential:
            entra: { tenantId: tid-1, clientId: cid-1, clientSecret: { env: AOAI_SECRET } }
      pools:
        - name: gpt-4o
          members: [ { backend: aoai, deployment: gpt-4o } ]
      models:
        - { name: gpt-4o, pool: gpt-4o }
      consumers:
        - name: app
          models: [ gpt-4o ]
          tokens:
            - provider: entra
              claims: [ { claim: appid, values: [ app-1 ] } ]
      """;

  private List<String> problemPaths(String yaml) {
    ConfigException e = assertThrows(ConfigException.class, () -> loader.parse(yaml, "t.yaml", null));
    assertFalse(e.getMessage().contains("s3cret-value"), e.getMessage());
    return e.problems().stream().map(ConfigProblem::path).toList();
  }

  @Test
  void loadsAConsumerWithTokensOnlyAndAnEntraBackendWithTheirDefaults() throws Exception {
    GatewayConfig c = loader.parse(VALID, "t.yaml", null);
    assertEquals(60, c.getIdentityProviders(0).getClockSkewSeconds());
    assertEquals(30, c.getIdentityProviders(0).getJwksMinRefetchSeconds());
    var entra = c.getBackends(0).getCredential().getEntra();
    assertEquals("https://login.microsoftonline.com", entra.getAuthorityHost());
    assertEquals("https://cognitiveservices.azure.com/.default", entra.getScope());
    assertEquals(EntraCredentials.Method.CLIENT_SECRET, EntraCredentials.method(entra));
  }

  @Test
  void aManagedIdentityGetsTheImdsEndpoint() throws Exception {
    GatewayConfig c = loader.parse(VALID.replace("{ tenantId: tid-1, clientId: cid-1, clientSecret: { env: AOAI_SECRET } }",
        "{ managedIdentity: { clientId: mi-1 } }"), "t.yaml", null);
    assertEquals("http://169.254.169.254/metadata/identity/oauth2/token",
        c.getBackends(0).getCredential().getEntra().getManagedIdentity().getEndpoint());
  }

  @Test
  void refusesAnEntraCredentialWithTwoMethodsOrNoTenant() {
    assertEquals(List.of("backends[0].credential.entra"), problemPaths(VALID.replace("clientSecret: { env: AOAI_SECRET }",
        "clientSecret: { env: AOAI_SECRET }, federatedTokenFile: /var/run/token")));
    assertEquals(List.of("backends[0].credential.entra.tenantId"), problemPaths(VALID.replace("tenantId: tid-1, ", "")));
  }

  @Test
  void refusesAnUnsetClientSecretWithoutShowingAnySecret() {
    assertEquals(List.of("backends[0].credential.entra"), problemPaths(VALID.replace("AOAI_SECRET", "MISSING_VAR")));
  }

  @Test
  void refusesEntraForAProviderOtherThanAzureOpenAi() {
    List<String> paths = problemPaths(VALID.replace("provider: azure-openai", "provider: openai")
        .replace("apiVersion: 2024-10-21", "").replace(", deployment: gpt-4o", ""));
    assertTrue(paths.contains("backends[0].credential.entra"), paths.toString());
  }

  @Test
  void resolvesCredentialFilesAgainstTheConfigFolder(@TempDir Path dir) throws Exception {
    Files.writeString(dir.resolve("token"), "federated");
    Path file = dir.resolve("weir.yaml");
    Files.writeString(file, VALID.replace("clientSecret: { env: AOAI_SECRET }", "federatedTokenFile: token"));
    GatewayConfig c = loader.load(file);
    assertEquals(dir.resolve("token").toString(), c.getBackends(0).getCredential().getEntra().getFederatedTokenFile());
  }

  @Test
  void refusesATokenMatcherNamingAnUnknownProviderOrMatchingNoClaim() {
    assertEquals(List.of("consumers[0].tokens[0].provider"), problemPaths(VALID.replace("provider: entra", "provider: okta")));
    assertEquals(List.of("consumers[0].tokens[0].claims"),
        problemPaths(VALID.replace("claims: [ { claim: appid, values: [ app-1 ] } ]", "claims: []")));
  }

  @Test
  void refusesTokenModelsTheConsumerMayNotUse() {
    assertEquals(List.of("consumers[0].tokens[0].models[0]"),
        problemPaths(VALID.replace("claims: [ { claim: appid, values: [ app-1 ] } ]",
            "claims: [ { claim: appid, values: [ app-1 ] } ]\n        models: [ other ]")));
  }

  @Test
  void refusesAProviderWithoutAudiencesAndAConsumerWithNeitherKeysNorTokens() {
    assertEquals(List.of("identityProviders[0].audiences"), problemPaths(VALID.replace("audiences: [ api://weir ]", "")));
    String noTokens = VALID.substring(0, VALID.indexOf("    tokens:"));
    assertEquals(List.of("consumers[0].keys"), problemPaths(noTokens));
  }

  @Test
  void refusesTwoProvidersWithOneIssuer() {
    String yaml = VALID.replace("identityProviders:\n", """
        identityProviders:
          - name: again
            issuer: https://login.microsoftonline.com/tid-1/v2.0
            audiences: [ x ]
        """);
    assertEquals(List.of("identityProviders[1].issuer"), problemPaths(yaml));
  }
}
