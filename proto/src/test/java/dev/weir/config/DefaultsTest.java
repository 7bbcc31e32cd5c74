package dev.weir.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Descriptors.FieldDescriptor;
import dev.weir.config.v1.ExtProcSettings;
import dev.weir.config.v1.FailureMode;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.config.v1.HealthCheck;
import dev.weir.config.v1.Pool;
import dev.weir.config.v1.StreamUsage;
import dev.weir.config.v1.Strategy;
import java.util.Map;
import org.junit.jupiter.api.Test;

class DefaultsTest {
  private static final String MINIMAL = """
      backends:
        - { name: a, provider: openai-compatible, url: "http://10.0.0.1:1", healthCheck: { path: /h, timeoutSeconds: 9 } }
        - { name: b, provider: openai-compatible, url: "http://10.0.0.2:1" }
        - { name: c, provider: openai-compatible, url: "http://10.0.0.3:1" }
      pools:
        - { name: one, members: [ { backend: b } ] }
        - { name: three, members: [ { backend: a }, { backend: b, weight: 4 }, { backend: c } ] }
        - { name: pinned, members: [ { backend: b } ], retries: { maxRetries: 4 } }
      models: [ { name: m, pool: one } ]
      limits: [ { name: q, quota: { tokens: 5, period: day } } ]
      consumers: [ { name: x, keys: [ "%s" ], models: [ "*" ], limits: [ q ] } ]
      """.formatted(ApiKeys.hash("k"));

  private static GatewayConfig load() throws ConfigException {
    return new ConfigLoader(Map.<String, String>of()::get, true).parse(MINIMAL, "t", null);
  }

  @Test
  void everyDeclaredDefaultIsAValueOfItsFieldsType() {
    int declared = 0;
    for (FieldDescriptor f : Defaults.fields(GatewayConfig.getDescriptor()).values()) {
      if (Defaults.declared(f).isPresent()) {
        declared++;
        String value = Defaults.declared(f).get();
        if (f.getJavaType() == FieldDescriptor.JavaType.MESSAGE) {
          assertEquals(Defaults.PRESENT, value, f.getFullName());
        } else {
          Defaults.parse(f, value); // throws on a value the field cannot hold
        }
      }
      assertFalse(Defaults.declared(f).isPresent() && Defaults.derived(f).isPresent(),
          f.getFullName() + " declares a default both ways");
    }
    assertTrue(declared > 40, "found only " + declared);
  }

  @Test
  void aDeclarationTheFieldCannotHoldIsCaughtAsABug() {
    FieldDescriptor port = ExtProcSettings.getDescriptor().findFieldByName("grpcPort");
    assertThrows(IllegalStateException.class, () -> Defaults.parse(port, "fifty"));
    FieldDescriptor strategy = Pool.getDescriptor().findFieldByName("strategy");
    assertThrows(IllegalStateException.class, () -> Defaults.parse(strategy, "PRIORITY"),
        "enum defaults are written as in YAML");
  }

  @Test
  void fieldsLeftOutGetTheirDeclaredDefaultsAndGivenValuesStay() throws Exception {
    GatewayConfig config = load();
    Pool three = config.getPools(1);
    assertEquals(Strategy.PRIORITY, three.getStrategy());
    assertEquals(1, three.getMembers(0).getWeight());
    assertEquals(4, three.getMembers(1).getWeight());
    assertEquals(600, three.getTimeouts().getRequestSeconds());
    assertEquals(5, three.getEjection().getConsecutive5Xx());
    assertEquals(1024, three.getCircuitBreakers().getMaxPendingRequests());
    assertEquals(2, three.getRetries().getMaxRetryAfterSeconds());
    assertEquals(StreamUsage.REQUEST, config.getTokens().getStreamUsage());
    assertEquals(765, config.getTokens().getImageTokens());
    assertEquals(18001, config.getControlPlane().getAdminPort());
    assertEquals("consumer", config.getLimits(0).getKey());
    assertEquals(FailureMode.CLOSED, config.getLimits(0).getOnStoreFailure());
    assertEquals("UTC", config.getLimits(0).getQuota().getTimeZone());
  }

  @Test
  void blocksWithoutADefaultStayAbsentAndGivenOnesGetTheirFieldsDefaults() throws Exception {
    GatewayConfig config = load();
    assertFalse(config.hasRedis(), "redis switches shared counters on, so it must not appear by default");
    assertFalse(config.getBackends(1).hasHealthCheck(), "no health check unless asked for");
    assertFalse(config.getLimits(0).hasBudget());
    HealthCheck given = config.getBackends(0).getHealthCheck();
    assertEquals(9, given.getTimeoutSeconds());
    assertEquals(10, given.getIntervalSeconds());
    assertEquals(3, given.getUnhealthyThreshold());
  }

  @Test
  void retriesDefaultToOnePerOtherMemberAtLeastOne() throws Exception {
    GatewayConfig config = load();
    assertEquals(1, config.getPools(0).getRetries().getMaxRetries(), "a single member retries itself once");
    assertEquals(2, config.getPools(1).getRetries().getMaxRetries());
    assertEquals(4, config.getPools(2).getRetries().getMaxRetries());
    assertTrue(Defaults.derived(dev.weir.config.v1.Retries.getDescriptor().findFieldByName("maxRetries")).isPresent(),
        "the loader's computed default is declared on the field");
  }

  @Test
  void publicDefaultConstantsComeFromTheSchema() {
    assertEquals(50051, ConfigLoader.DEFAULT_EXT_PROC_PORT);
    assertEquals(9464, ConfigLoader.DEFAULT_EXT_PROC_ADMIN_PORT);
    assertEquals(4 * 1024 * 1024, ConfigLoader.DEFAULT_MAX_REQUEST_BYTES);
    assertEquals(20, ConfigLoader.DEFAULT_DRAIN_SECONDS);
    assertEquals(18000, ConfigLoader.DEFAULT_ADS_PORT);
    assertEquals(18001, ConfigLoader.DEFAULT_CONTROL_PLANE_ADMIN_PORT);
    assertEquals(10000, ConfigLoader.DEFAULT_LISTENER_PORT);
  }

  @Test
  void anExplicitZeroOfAnOptionalFieldStaysZeroWhileLeavingItOutGivesTheDefault() throws Exception {
    ConfigLoader loader = new ConfigLoader(Map.<String, String>of()::get, true);
    String zero = MINIMAL + """
        observability: { traces: { otlp: { endpoint: "http://127.0.0.1:4318" }, sampleRatio: 0 } }
        scanners: [ { name: hook, kind: webhook, url: "https://hook.example.com", cacheSeconds: 0 } ]
        """;
    GatewayConfig c = loader.parse(zero, "t", null);
    assertTrue(c.getObservability().getTraces().hasSampleRatio());
    assertEquals(0.0, c.getObservability().getTraces().getSampleRatio());
    assertTrue(c.getScanners(0).hasCacheSeconds());
    assertEquals(0, c.getScanners(0).getCacheSeconds());

    GatewayConfig left = loader.parse(zero.replace(", sampleRatio: 0", "").replace(", cacheSeconds: 0", ""), "t", null);
    assertEquals(1.0, left.getObservability().getTraces().getSampleRatio());
    assertEquals(60, left.getScanners(0).getCacheSeconds());
  }
}
