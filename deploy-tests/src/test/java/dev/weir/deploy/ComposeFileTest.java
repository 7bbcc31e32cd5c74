package dev.weir.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.ConfigLoader;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.testkit.EnvoyYaml;
import io.envoyproxy.envoy.config.bootstrap.v3.Bootstrap;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * deploy/docker-compose.yml, checked as far as a machine without a Docker engine allows: the YAML
 * is read, the bootstrap it mounts into the real Envoy image parses strictly and matches
 * envoy/envoy.yaml but for the addresses, and every name and port agrees between the compose
 * services, that bootstrap, the gateway config they mount and the images' Dockerfiles.
 */
class ComposeFileTest {
  private static final Path DEPLOY = Path.of("..", "deploy");

  @SuppressWarnings("unchecked")
  static Map<String, Map<String, Object>> services() throws Exception {
    Map<String, Object> compose = StrictKubernetes.documents(Files.readString(DEPLOY.resolve("docker-compose.yml"))).get(0);
    return (Map<String, Map<String, Object>>) compose.get("services");
  }

  /** The host file a service mounts at a path inside its container. */
  @SuppressWarnings("unchecked")
  static Path mounted(Map<String, Object> service, String target) {
    for (String volume : (List<String>) service.get("volumes")) {
      String[] parts = volume.split(":");
      if (parts[1].equals(target)) {
        return DEPLOY.resolve(parts[0]).normalize();
      }
    }
    throw new AssertionError("nothing mounted at " + target);
  }

  @SuppressWarnings("unchecked")
  static List<String> list(Map<String, Object> service, String key) {
    return (List<String>) service.get(key);
  }

  static String argAfter(List<String> args, String flag) {
    int i = args.indexOf(flag);
    return i >= 0 && i + 1 < args.size() ? args.get(i + 1) : null;
  }

  @Test
  void composeRunsTheRealEnvoyBothServicesRedisAndTheDemoUpstream() throws Exception {
    var services = services();
    assertEquals(Set.of("redis", "demo-upstream", "xds-control-plane", "ext-proc-server", "envoy"), services.keySet());
    assertTrue(String.valueOf(services.get("envoy").get("image")).startsWith("envoyproxy/envoy:v1.3"));
    for (String name : List.of("xds-control-plane", "ext-proc-server", "demo-upstream")) {
      @SuppressWarnings("unchecked")
      Map<String, Object> build = (Map<String, Object>) services.get(name).get("build");
      Path dockerfile = DEPLOY.resolve(String.valueOf(build.get("context"))).resolve(String.valueOf(build.get("dockerfile"))).normalize();
      assertTrue(Files.isRegularFile(dockerfile), name + " builds from " + dockerfile);
    }
    for (String name : List.of("xds-control-plane", "ext-proc-server")) {
      assertEquals(Boolean.TRUE, services.get(name).get("read_only"), name + " runs on a read-only root");
      assertEquals(List.of("/tmp"), services.get(name).get("tmpfs"), name);
    }
    for (var s : services.entrySet()) {
      List<String> ports = list(s.getValue(), "ports");
      if (ports != null) {
        ports.forEach(p -> assertTrue(p.startsWith("127.0.0.1:"), s.getKey() + " publishes " + p + " beyond the host's loopback"));
      }
    }
  }

  @Test
  void mountedBootstrapParsesStrictlyAndIsTheShippedOneWithServiceNames() throws Exception {
    var envoy = services().get("envoy");
    String bootstrapInContainer = argAfter(list(envoy, "command"), "-c");
    Bootstrap compose = EnvoyYaml.bootstrap(mounted(envoy, bootstrapInContainer));
    Bootstrap shipped = EnvoyYaml.bootstrap(Path.of("..", "envoy", "envoy.yaml"));
    Bootstrap.Builder readdressed = shipped.toBuilder();
    for (Cluster.Builder c : readdressed.getStaticResourcesBuilder().getClustersBuilderList()) {
      var address = c.getLoadAssignmentBuilder().getEndpointsBuilder(0).getLbEndpointsBuilder(0).getEndpointBuilder()
          .getAddressBuilder().getSocketAddressBuilder();
      address.setAddress(c.getName().equals("weir_ext_proc") ? "ext-proc-server" : "xds-control-plane");
    }
    assertEquals(readdressed.build(), compose);
  }

  @Test
  void namesAndPortsAgreeBetweenServicesBootstrapAndGatewayConfig() throws Exception {
    var services = services();
    Path gatewayFile = mounted(services.get("ext-proc-server"), "/etc/weir/config/gateway.yaml");
    assertEquals(gatewayFile, mounted(services.get("xds-control-plane"), "/etc/weir/config/gateway.yaml"),
        "both services read one config");
    for (String name : List.of("xds-control-plane", "ext-proc-server")) {
      assertEquals("/etc/weir/config/gateway.yaml", argAfter(list(services.get(name), "command"), "--config"), name);
    }
    @SuppressWarnings("unchecked")
    Map<String, String> env = (Map<String, String>) services.get("ext-proc-server").get("environment");
    // As the services load it, credentials included, with the compose file's defaults for ${VAR:-default}.
    GatewayConfig config = new ConfigLoader(v -> env.containsKey(v) ? env.get(v).replaceAll("^\\$\\{[^:]+:-(.*)}$", "$1") : null, true)
        .load(gatewayFile);

    Bootstrap bootstrap = EnvoyYaml.bootstrap(mounted(services.get("envoy"), "/etc/envoy/envoy.yaml"));
    Map<String, Integer> expectedPorts = Map.of("ext-proc-server", config.getExtProc().getGrpcPort(),
        "xds-control-plane", config.getControlPlane().getAdsPort());
    for (Cluster c : bootstrap.getStaticResources().getClustersList()) {
      var address = c.getLoadAssignment().getEndpoints(0).getLbEndpoints(0).getEndpoint().getAddress().getSocketAddress();
      assertTrue(services.containsKey(address.getAddress()), c.getName() + " reaches " + address.getAddress() + ", not a service");
      assertEquals(expectedPorts.get(address.getAddress()), address.getPortValue(), c.getName());
    }
    int listenerPort = bootstrap.getStaticResources().getListeners(0).getAddress().getSocketAddress().getPortValue();
    assertEquals(List.of("127.0.0.1:" + listenerPort + ":" + listenerPort), list(services.get("envoy"), "ports"));
    assertEquals(List.of("127.0.0.1:" + config.getExtProc().getAdminPort() + ":" + config.getExtProc().getAdminPort()),
        list(services.get("ext-proc-server"), "ports"));
    assertEquals(List.of("127.0.0.1:" + config.getControlPlane().getAdminPort() + ":" + config.getControlPlane().getAdminPort()),
        list(services.get("xds-control-plane"), "ports"));

    // Backends and Redis are compose services (or their network aliases).
    @SuppressWarnings("unchecked")
    var aliases = (List<String>) ((Map<String, Map<String, Object>>) services.get("demo-upstream").get("networks")).get("default").get("aliases");
    for (var b : config.getBackendsList()) {
      String host = URI.create(b.getUrl()).getHost();
      assertTrue(services.containsKey(host) || aliases.contains(host), b.getName() + " is at " + host + ", not a compose service");
      assertEquals(18080, URI.create(b.getUrl()).getPort());
    }
    assertEquals("redis", URI.create(config.getRedis().getUri()).getHost());
    assertTrue(list(services.get("demo-upstream"), "command") == null, "the image's CMD serves on 18080");
  }

  @Test
  @SuppressWarnings("unchecked")
  void envoyStartsAfterBothServicesReportHealthyThroughTheirImagesHealthchecks() throws Exception {
    var dependsOn = (Map<String, Map<String, String>>) services().get("envoy").get("depends_on");
    assertEquals("service_healthy", dependsOn.get("ext-proc-server").get("condition"));
    assertEquals("service_healthy", dependsOn.get("xds-control-plane").get("condition"));
    for (String name : List.of("ext-proc-server", "xds-control-plane")) {
      var dockerfile = Dockerfile.read(Path.of("..", "deploy", "docker", name + ".Dockerfile"));
      assertTrue(dockerfile.last("HEALTHCHECK") != null, name + " declares a HEALTHCHECK");
    }
  }
}
