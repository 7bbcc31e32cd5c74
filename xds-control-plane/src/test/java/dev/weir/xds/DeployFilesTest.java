package dev.weir.xds;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.Yaml;

/**
 * No Docker engine runs on our build machines, so the compose file is checked for what would
 * break it silently: it mounts the jars the build produces and the shipped bootstrap, and every
 * service shares the host network the bootstrap's loopback addresses assume.
 */
class DeployFilesTest {
  @Test
  @SuppressWarnings("unchecked")
  void composeMountsWhatTheBuildProducesAndSharesTheHostNetwork() throws Exception {
    Map<String, Object> compose = new Yaml().load(Files.readString(Path.of("..", "deploy", "docker-compose.yml")));
    Map<String, Map<String, Object>> services = (Map<String, Map<String, Object>>) compose.get("services");
    assertEquals(List.of("demo-upstream", "xds-control-plane", "ext-proc-server", "envoy"), List.copyOf(services.keySet()));
    for (var e : services.entrySet()) {
      assertEquals("host", e.getValue().get("network_mode"), e.getKey());
      for (String volume : (List<String>) e.getValue().get("volumes")) {
        String source = volume.replace("${WEIR_CONFIG:-examples/quickstart.yaml}", "examples/quickstart.yaml")
            .split(":")[0];
        Path p = Path.of("..", "deploy").resolve(source).normalize();
        boolean builtLater = source.endsWith(".jar");
        assertTrue(builtLater ? source.contains("/target/") : Files.exists(p), e.getKey() + " mounts " + source);
      }
    }
    assertTrue(String.valueOf(services.get("envoy").get("command")).contains("/etc/weir/envoy.yaml"));
  }
}
