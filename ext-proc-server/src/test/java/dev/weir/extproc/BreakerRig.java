package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.ConfigLoader;
import dev.weir.config.Wire;
import dev.weir.config.v1.Backend;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.testkit.AdsSnapshot;
import dev.weir.testkit.ScriptedUpstream;
import dev.weir.testkit.TestEnvoy;
import dev.weir.xds.ControlPlaneServer;
import io.envoyproxy.envoy.config.core.v3.HealthStatus;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;

/**
 * The breaker example (examples/throttle-breaker.yaml) running end to end for the breaker tests:
 * scripted PTU and pay-as-you-go backends, ext-proc-server and a real xds-control-plane on one fake
 * clock, and the test-kit Envoy following the control plane's EDS pushes over ADS.
 */
final class BreakerRig implements AutoCloseable {
  static final Path EXAMPLE = Path.of("..", "examples", "throttle-breaker.yaml");
  private static final Map<String, String> ENV = Map.of("AOAI_EASTUS_PTU_KEY", "ptu-key",
      "AOAI_EASTUS_PAYGO_KEY", "paygo-key", "WEIR_ADMIN_TOKEN", "admin-secret");

  final AtomicLong now = new AtomicLong(1_800_000_000_000L);
  final AtomicReference<ClusterLoadAssignment> pushed = new AtomicReference<>();
  final ScriptedUpstream ptu = new ScriptedUpstream("ptu");
  final ScriptedUpstream paygo = new ScriptedUpstream("paygo");
  final ControlPlaneServer controlPlane;
  final ExtProcServer server;
  final TestEnvoy envoy;
  private final AdsSnapshot ads;
  private final Path configFile;

  /** The example, changed by {@code tweak} (backend URLs already point at the scripted ones). */
  BreakerRig(Consumer<GatewayConfig.Builder> tweak) throws Exception {
    GatewayConfig.Builder b = new ConfigLoader(ENV::get, true).load(EXAMPLE).toBuilder();
    Map<String, ScriptedUpstream> byName = Map.of("aoai-eastus-ptu", ptu, "aoai-eastus-paygo", paygo);
    for (Backend.Builder backend : b.getBackendsBuilderList()) {
      backend.setUrl(byName.get(backend.getName()).url());
    }
    tweak.accept(b);
    GatewayConfig config = b.build();
    configFile = Files.createTempFile("weir-breaker", ".yaml");
    controlPlane = new ControlPlaneServer(configFile, config, ENV::get, "127.0.0.1", 0, 0, false, false);
    controlPlane.ads().trips().clock(now::get);
    server = new ExtProcServer(config.toBuilder()
        .setControlPlaneAdminUrl("http://127.0.0.1:" + controlPlane.adminPort()).build(), ENV::get, "127.0.0.1", 0, 0);
    server.runtime().stores().trips().clock(now::get);
    envoy = Gateway.envoy(config, server.grpcPort());
    // Envoy follows the control plane: every EDS push reaches the emulated cluster.
    ads = new AdsSnapshot("127.0.0.1", controlPlane.adsPort(), Wire.ROUTE_CONFIG_NAME, (clusters, eds, routes) -> {
      eds.forEach(envoy::updateEndpoints);
      eds.forEach(pushed::set);
    });
    await(() -> pushed.get() != null, "the first EDS push");
  }

  /** The health the control plane last pushed for the pool's {@code member}-th locality. */
  HealthStatus health(int member) {
    return pushed.get().getEndpoints(member).getLbEndpoints(0).getHealthStatus();
  }

  static void await(BooleanSupplier condition, String what) throws InterruptedException {
    for (int i = 0; i < 500 && !condition.getAsBoolean(); i++) {
      Thread.sleep(10);
    }
    assertTrue(condition.getAsBoolean(), "timed out waiting for " + what);
  }

  @Override
  public void close() throws Exception {
    ads.close();
    envoy.close();
    server.close();
    controlPlane.close();
    ptu.close();
    paygo.close();
    Files.deleteIfExists(configFile);
  }
}
