package dev.weir.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * docs/deploy.md's overlay, as an operator would write it: its files are taken from the page,
 * laid out beside a copy of the repository's deploy folder, rendered by the real kustomize and
 * checked like the shipped topologies.
 */
class DeployDocTest {
  private static final Path DOC = Path.of("..", "docs", "deploy.md");

  /** The page's YAML blocks whose first line is a comment naming their file: file → content. */
  static List<String[]> namedBlocks() throws Exception {
    List<String[]> blocks = new ArrayList<>();
    Matcher m = Pattern.compile("```yaml\n# (my-gateway/[\\w.-]+)\n(.*?)```", Pattern.DOTALL).matcher(Files.readString(DOC));
    while (m.find()) {
      blocks.add(new String[] {m.group(1), m.group(2)});
    }
    return blocks;
  }

  @Test
  void theDocumentedOverlayRendersAndStaysConsistent() throws Exception {
    Path root = Files.createTempDirectory(Path.of("target"), "deploy-doc");
    // The page's layout: my-gateway/ beside a checkout named weir/.
    Path checkout = root.resolve("weir");
    Files.createDirectories(checkout);
    Files.createSymbolicLink(checkout.resolve("deploy"), Path.of("..", "deploy").toAbsolutePath().normalize());
    Path overlay = root.resolve("my-gateway");
    Files.createDirectories(overlay);
    List<String[]> blocks = namedBlocks();
    assertEquals(List.of("my-gateway/kustomization.yaml", "my-gateway/redis.yaml"), blocks.stream().map(b -> b[0]).toList());
    for (String[] b : blocks) {
      Files.writeString(root.resolve(b[0]), b[1]);
    }
    // "start from a copy of deploy/kubernetes/base/gateway.yaml"
    Files.copy(Kustomize.KUBERNETES.resolve("base/gateway.yaml"), overlay.resolve("gateway.yaml"));

    Rendered rendered = Rendered.of("my-gateway", Kustomize.render(overlay));
    assertEquals(List.of(), KubernetesManifestsTest.problems(rendered));
    for (Deployment d : rendered.deployments()) {
      d.getSpec().getTemplate().getSpec().getContainers().stream().filter(c -> c.getImage().contains("weir/"))
          .forEach(c -> assertTrue(c.getImage().startsWith("registry.example.com/weir/") && c.getImage().endsWith(":0.1.0"), c.getImage()));
    }
    assertEquals("redis-master.data.svc.cluster.local", rendered.named(Service.class, "redis").orElseThrow().getSpec().getExternalName());
    assertTrue(rendered.named(ConfigMap.class, Wiring.GATEWAY_CONFIG_MAP).isPresent(), "the gateway config keeps its fixed name");
  }

  @Test
  void theRetryPolicyShownIsTheOneEnvoyYamlCarries() throws Exception {
    Matcher m = Pattern.compile("```yaml\n(grpc_service:\n.*?)```", Pattern.DOTALL).matcher(Files.readString(DOC));
    assertTrue(m.find(), "docs/deploy.md shows the ext_proc retry policy");
    List<String> shipped = Files.readAllLines(Path.of("..", "envoy", "envoy.yaml")).stream().map(String::strip).toList();
    for (String line : m.group(1).split("\n")) {
      assertTrue(shipped.contains(line.strip()), "envoy/envoy.yaml lacks: " + line.strip());
    }
  }
}
