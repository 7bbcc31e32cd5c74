package dev.weir.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.v1.GatewayConfig;
import dev.weir.config.v1.Provider;
import dev.weir.config.v1.Strategy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigLoaderTest {
  private static final String KEY = ApiKeys.hash("sk-test");
  private static final Map<String, String> ENV = Map.of("AOAI_EASTUS_KEY", "a", "OPENAI_API_KEY", "o");
  private final ConfigLoader loader = new ConfigLoader(ENV::get, true);

  private static final String VALID = """
      backends:
        - name: aoai
          provider: azure-openai
          url: https://eastus.example.openai.azure.com
          apiVersion: 2024-10-21
          credential: { env: AOAI_EASTUS_KEY }
        - name: openai
          provider: openai
          url: https://api.openai.com
          credential: { env: OPENAI_API_KEY }
      pools:
        - name: gpt-4o
          members:
            - { backend: aoai, priority: 0, deployment: gpt-4o-ptu }
            - { backend: openai, priority: 1, model: gpt-4o-2024-08-06 }
      models:
        - { name: gpt-4o, pool: gpt-4o }
      consumers:
        - name: team-a
          keys: [ "%s" ]
          models: [ gpt-4o ]
      """.formatted(KEY);

  private ConfigException refused(String yaml) {
    return assertThrows(ConfigException.class, () -> loader.parse(yaml, "test.yaml", null));
  }

  @Test
  void loadsTheShippedExampleConfig() throws Exception {
    Path example = Path.of("..", "examples", "gateway.yaml");
    GatewayConfig config = new ConfigLoader(ENV::get, true).load(example);
    assertEquals(3, config.getBackendsCount());
    assertEquals(Provider.AZURE_OPENAI, config.getBackends(0).getProvider());
    assertEquals(Strategy.ROUND_ROBIN, config.getPools(1).getStrategy());
    assertEquals(2, config.getConsumersCount());
    assertEquals(ApiKeys.hash("sk-weir-finance-demo"), config.getConsumers(0).getKeys(0));
    assertEquals(ApiKeys.hash("sk-weir-research-demo"), config.getConsumers(1).getKeys(0));
  }

  @Test
  void appliesDefaultsOnce() throws Exception {
    GatewayConfig config = loader.parse(VALID, "test.yaml", null);
    assertEquals(Strategy.PRIORITY, config.getPools(0).getStrategy());
    assertEquals(1, config.getPools(0).getMembers(0).getWeight());
    assertEquals(50051, config.getExtProc().getGrpcPort());
    assertEquals(4 * 1024 * 1024, config.getExtProc().getMaxRequestBytes());
    // An unquoted date stays the string the user wrote.
    assertEquals("2024-10-21", config.getBackends(0).getApiVersion());
  }

  @Test
  void aBreakerBlockGetsItsDefaultsAndNoBlockMeansNoBreaker() throws Exception {
    GatewayConfig none = loader.parse(VALID, "test.yaml", null);
    assertTrue(!none.getPools(0).hasBreaker());
    assertEquals("http://127.0.0.1:18001", none.getControlPlaneAdminUrl());
    GatewayConfig config = loader.parse(VALID.replace("      - { backend: openai, priority: 1, model: gpt-4o-2024-08-06 }\n",
        "      - { backend: openai, priority: 1, model: gpt-4o-2024-08-06 }\n    breaker: { acceptRetryAfter: true }\n"), "test.yaml", null);
    var breaker = config.getPools(0).getBreaker();
    assertEquals(java.util.List.of("429", "500-599"), breaker.getStatusesList());
    assertEquals(java.util.List.of(1, 10, 30, 300, 429), java.util.List.of(breaker.getCount(), breaker.getIntervalSeconds(),
        breaker.getTripSeconds(), breaker.getMaxTripSeconds(), breaker.getAllTrippedStatus()));
  }

  @Test
  void refusesABreakerWithBadStatusesOrAnAllTrippedStatusOtherThan429Or503() {
    ConfigException e = refused(VALID.replace("      - { backend: openai, priority: 1, model: gpt-4o-2024-08-06 }\n",
        "      - { backend: openai, priority: 1, model: gpt-4o-2024-08-06 }\n"
            + "    breaker: { statuses: [ \"429\", \"599-500\", \"5xx\" ], allTrippedStatus: 500, tripSeconds: 600 }\n")
        .replace("consumers:", "controlPlaneAdminUrl: ftp://cp\nconsumers:"));
    java.util.List<String> paths = e.problems().stream().map(ConfigProblem::path).toList();
    assertEquals(java.util.List.of("pools[0].breaker.statuses", "pools[0].breaker.allTrippedStatus",
        "pools[0].breaker.maxTripSeconds", "controlPlaneAdminUrl"), paths.stream().sorted(
            java.util.Comparator.comparing(p -> p.startsWith("control") ? 1 : 0)).toList(), e.getMessage());
    assertTrue(e.getMessage().contains("\"599-500\" is an empty range"), e.getMessage());
  }

  @Test
  void refusesUnknownKeyNamingItsPathAndLine() {
    ConfigException e = refused(VALID.replace("priority: 0,", "priority: 0, prio: 3,"));
    assertEquals(1, e.problems().size());
    ConfigProblem p = e.problems().get(0);
    assertEquals("pools[0].members[0].prio", p.path());
    assertEquals(14, p.line());
    assertTrue(p.message().contains("unknown key \"prio\""), p.message());
    assertTrue(p.message().contains("deployment"), "lists the keys that are allowed");
  }

  @Test
  void refusesWrongType() {
    ConfigException e = refused(VALID.replace("priority: 1,", "priority: high,"));
    assertEquals("pools[0].members[1].priority", e.problems().get(0).path());
    assertTrue(e.getMessage().contains("expected a whole number, found \"high\""), e.getMessage());
  }

  @Test
  void refusesNegativeNumberForUnsignedField() {
    ConfigException e = refused(VALID.replace("priority: 1,", "priority: -1,"));
    assertTrue(e.getMessage().contains("must not be negative"), e.getMessage());
  }

  @Test
  void refusesUnknownEnumValueListingTheAllowedOnes() {
    ConfigException e = refused(VALID.replace("provider: openai", "provider: opneai"));
    assertEquals("backends[1].provider", e.problems().get(0).path());
    assertTrue(e.getMessage().contains("openai, azure-openai, openai-compatible"), e.getMessage());
  }

  @Test
  void refusesPoolMemberNamingMissingBackend() {
    ConfigException e = refused(VALID.replace("{ backend: openai,", "{ backend: opnai,"));
    assertEquals("pools[0].members[1].backend", e.problems().get(0).path());
    assertEquals(15, e.problems().get(0).line());
    assertTrue(e.getMessage().contains("no backend named \"opnai\""), e.getMessage());
  }

  @Test
  void refusesDuplicateNames() {
    ConfigException e = refused(VALID.replace("- name: openai", "- name: aoai"));
    assertTrue(e.problems().stream().anyMatch(p -> p.path().equals("backends[1].name")
        && p.message().contains("duplicate backend name \"aoai\"")), e.getMessage());
  }

  @Test
  void refusesACacheSimilarityOutsideZeroToOne() {
    ConfigException e = refused(VALID + "policies:\n  cache:\n    sureThreshold: 1.5\n");
    assertTrue(e.problems().stream().anyMatch(p -> p.path().equals("policies.cache.sureThreshold")
        && p.message().contains("between 0 and 1")), e.getMessage());
  }

  @Test
  void refusesAModelNamedLikeThePlaceholderOfRequestsWithoutAModel() {
    ConfigException e = refused(VALID.replace("- { name: gpt-4o, pool: gpt-4o }", "- { name: \"(none)\", pool: gpt-4o }")
        .replace("models: [ gpt-4o ]", "models: [ \"(none)\" ]"));
    assertTrue(e.problems().stream().anyMatch(p -> p.path().equals("models[0].name")
        && p.message().contains("\"(none)\" is reserved")), e.getMessage());
  }

  @Test
  void refusesUnsetCredentialEnvVarWithoutLeakingAnything() {
    ConfigLoader noEnv = new ConfigLoader(Map.of("AOAI_EASTUS_KEY", "a")::get, true);
    ConfigException e = assertThrows(ConfigException.class, () -> noEnv.parse(VALID, "t.yaml", null));
    assertEquals("backends[1].credential", e.problems().get(0).path());
    assertTrue(e.getMessage().contains("environment variable OPENAI_API_KEY is not set"), e.getMessage());
  }

  @Test
  void offlineToolsMayLoadWithoutCredentials() throws Exception {
    GatewayConfig config = new ConfigLoader(Map.<String, String>of()::get, false).parse(VALID, "t", null);
    assertEquals(2, config.getBackendsCount());
  }

  @Test
  void controlPlaneRefusesAConfigExtProcWouldRefuseForAMissingCredential(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("gateway.yaml");
    Files.writeString(file, VALID.replace("AOAI_EASTUS_KEY", "WEIR_TEST_NEVER_SET_4711")
        .replace("OPENAI_API_KEY", "WEIR_TEST_NEVER_SET_4712"));
    ConfigException extProc = assertThrows(ConfigException.class, () -> ConfigLoader.forExtProc().load(file));
    ConfigException controlPlane = assertThrows(ConfigException.class, () -> ConfigLoader.forControlPlane().load(file));
    assertEquals(extProc.getMessage(), controlPlane.getMessage());
  }

  @Test
  void tlsSectionsNeedTheirFilesAndAnAllowList() {
    ConfigException e = refused(VALID + "\nsecurity: { extProcTls: { certFile: a.pem }, xffTrustedHops: 40 }\n");
    List<String> paths = e.problems().stream().map(ConfigProblem::path).toList();
    assertTrue(paths.containsAll(List.of("security.extProcTls.keyFile", "security.extProcTls.clientCaFile",
        "security.extProcTls.allowedClientSans", "security.xffTrustedHops")), paths.toString());
  }

  @Test
  void readsCredentialFileRelativeToTheConfig(@TempDir Path dir) throws Exception {
    Files.writeString(dir.resolve("openai.key"), "sk-upstream\n");
    Path file = dir.resolve("gateway.yaml");
    Files.writeString(file, VALID.replace("{ env: OPENAI_API_KEY }", "{ file: openai.key }"));
    GatewayConfig config = loader.load(file);
    assertEquals("sk-upstream", Credentials.resolve(config.getBackends(1).getCredential(), ENV::get));
  }

  @Test
  void refusesMissingCredentialFile(@TempDir Path dir) {
    String yaml = VALID.replace("{ env: OPENAI_API_KEY }", "{ file: /nonexistent/openai.key }");
    ConfigException e = refused(yaml);
    assertTrue(e.getMessage().contains("cannot read credential file /nonexistent/openai.key"), e.getMessage());
  }

  @Test
  void refusesTwoCredentialSources() {
    ConfigException e = refused(VALID.replace("{ env: OPENAI_API_KEY }", "{ env: OPENAI_API_KEY, file: x }"));
    assertTrue(e.getMessage().contains("set only one of \"env\" and \"file\""), e.getMessage());
  }

  @Test
  void refusesAzureMemberWithoutDeploymentAndBackendWithoutApiVersion() {
    ConfigException e = refused(VALID.replace(", deployment: gpt-4o-ptu", "")
        .replace("apiVersion: 2024-10-21", ""));
    assertTrue(e.problems().stream().anyMatch(p -> p.path().equals("backends[0].apiVersion")), e.getMessage());
    assertTrue(e.problems().stream().anyMatch(p -> p.path().equals("pools[0].members[0].deployment")),
        e.getMessage());
  }

  @Test
  void refusesRawKeysInsteadOfHashes() {
    ConfigException e = refused(VALID.replace(KEY, "sk-live-raw-key"));
    assertEquals("consumers[0].keys[0]", e.problems().get(0).path());
    assertTrue(!e.getMessage().contains("sk-live-raw-key"), "the raw key is not echoed back");
  }

  @Test
  void refusesModelPointingAtMissingPoolAndConsumerNamingMissingModel() {
    ConfigException e = refused(VALID.replace("{ name: gpt-4o, pool: gpt-4o }", "{ name: gpt-4o, pool: nope }")
        .replace("models: [ gpt-4o ]", "models: [ gpt-4o, gpt-5 ]"));
    assertTrue(e.getMessage().contains("models[0].pool"), e.getMessage());
    assertTrue(e.getMessage().contains("consumers[0].models[1]"), e.getMessage());
  }

  private static final String BEDROCK = VALID
      .replace("provider: openai\n    url: https://api.openai.com\n    credential: { env: OPENAI_API_KEY }",
          "provider: bedrock\n    url: https://bedrock-runtime.us-east-1.amazonaws.com\n    region: us-east-1")
      .replace("model: gpt-4o-2024-08-06", "model: \"anthropic.claude-3-5-sonnet-20240620-v1:0\"");

  @Test
  void loadsBedrockBackendWithRegionAndTheDefaultCredentialChain() throws Exception {
    GatewayConfig config = loader.parse(BEDROCK, "t.yaml", null);
    assertEquals(Provider.BEDROCK, config.getBackends(1).getProvider());
    assertEquals("us-east-1", config.getBackends(1).getRegion());
    assertEquals(false, config.getBackends(1).hasAws());
  }

  @Test
  void bedrockNeedsARegionAndRefusesAKeyCredential() {
    ConfigException e = refused(BEDROCK.replace("region: us-east-1", "credential: { env: OPENAI_API_KEY }"));
    assertTrue(e.problems().stream().anyMatch(p -> p.path().equals("backends[1].region")
        && p.message().contains("is required for provider bedrock")), e.getMessage());
    assertTrue(e.problems().stream().anyMatch(p -> p.path().equals("backends[1].credential")
        && p.message().contains("choose them with \"aws\"")), e.getMessage());
    assertTrue(refused(BEDROCK.replace("region: us-east-1", "region: US East")).getMessage()
        .contains("is not an AWS region name"));
  }

  @Test
  void regionAndAwsAreRefusedForOtherProviders() {
    ConfigException e = refused(VALID.replace("credential: { env: OPENAI_API_KEY }",
        "credential: { env: OPENAI_API_KEY }\n    region: us-east-1\n    aws: { env: true }"));
    assertTrue(e.problems().stream().anyMatch(p -> p.path().equals("backends[1].region")), e.getMessage());
    assertTrue(e.problems().stream().anyMatch(p -> p.path().equals("backends[1].aws")), e.getMessage());
  }

  @Test
  void awsCredentialsTakeOneSourceAndWebIdentityNeedsARole(@TempDir Path dir) throws Exception {
    String twoSources = BEDROCK.replace("region: us-east-1", "region: us-east-1\n    aws: { env: true, profile: prod }");
    assertTrue(refused(twoSources).getMessage().contains("set only one source"), refused(twoSources).getMessage());
    String noRole = BEDROCK.replace("region: us-east-1", "region: us-east-1\n    aws: { webIdentityTokenFile: /var/run/token }");
    assertTrue(refused(noRole).getMessage().contains("webIdentityTokenFile and roleArn go together"));
    Files.writeString(dir.resolve("aws-credentials"), "[prod]\n");
    Path file = dir.resolve("gateway.yaml");
    Files.writeString(file, BEDROCK.replace("region: us-east-1",
        "region: us-east-1\n    aws: { profile: prod, profileFile: aws-credentials }"));
    GatewayConfig config = loader.load(file);
    assertEquals(dir.resolve("aws-credentials").toString(), config.getBackends(1).getAws().getProfileFile(),
        "a relative profile file is read next to the config");
  }

  @Test
  void reportsInvalidYamlWithItsLine() {
    ConfigException e = refused("backends:\n  - name: [unclosed\n");
    assertTrue(e.getMessage().contains("not valid YAML"), e.getMessage());
    assertTrue(e.problems().get(0).line() > 0);
  }

  @Test
  void refusesListWhereMappingExpected() {
    ConfigException e = refused("backends: { name: x }\n");
    assertEquals("backends", e.problems().get(0).path());
    assertTrue(e.getMessage().contains("expected a list"), e.getMessage());
  }

  @Test
  void refusesEmptyFile() {
    assertTrue(refused("").getMessage().contains("the file is empty"));
  }

  @Test
  void expiringKeysNeedAHashAndAnInstant() {
    // The VALID consumer plus one with a bad expiry and a bad hash.
    ConfigException bad = refused(VALID.replace("consumers:", """
        consumers:
          - name: rotating
            models: [ "*" ]
            expiringKeys:
              - { hash: "sha256:nothex", expires: "2026-12-31T23:59:59Z" }
              - { hash: "%s", expires: "next tuesday" }""".formatted(ApiKeys.hash("sk-r"))));
    List<String> paths = bad.problems().stream().map(ConfigProblem::path).toList();
    assertTrue(paths.contains("consumers[0].expiringKeys[0].hash"), paths.toString());
    assertTrue(paths.contains("consumers[0].expiringKeys[1].expires"), paths.toString());
    assertTrue(!paths.contains("consumers[0].keys"), "expiring keys are keys: " + paths);
  }
}
