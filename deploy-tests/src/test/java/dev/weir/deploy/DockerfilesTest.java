package dev.weir.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.weir.config.ConfigLoader;
import dev.weir.config.v1.GatewayConfig;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The images' Dockerfiles, read instruction by instruction (no Docker engine builds them here):
 * multi-stage, a jlink-ed JRE, a numeric non-root user the Kubernetes manifests agree with, the
 * service's default ports exposed and health-checked, OCI labels, container-sized JVM flags, and
 * the jar the build stage makes is the one the entrypoint runs.
 */
class DockerfilesTest {
  private static final Path DOCKER = Path.of("..", "deploy", "docker");
  private static final ObjectMapper JSON = new ObjectMapper();

  /** A config that sets no ports, loaded as the services load it: its ports are the defaults. */
  static GatewayConfig defaults() throws Exception {
    return new ConfigLoader(v -> null, false).load(Path.of("..", "examples", "quickstart.yaml"));
  }

  static List<String> execForm(Dockerfile.Instruction i) throws Exception {
    return Arrays.asList(JSON.readValue(i.args().replaceFirst("^CMD ", ""), String[].class));
  }

  @ParameterizedTest
  @ValueSource(strings = {"ext-proc-server", "xds-control-plane"})
  void imageIsMultiStageJlinkedNonRootHealthCheckedAndLabelled(String service) throws Exception {
    Dockerfile file = Dockerfile.read(DOCKER.resolve(service + ".Dockerfile"));
    assertEquals(3, file.stages().size(), "build, jre, runtime");
    assertTrue(file.stages().get(1).stream().anyMatch(i -> i.keyword().equals("RUN") && i.args().startsWith("jlink ")
        && i.args().contains("--strip-debug")), "the runtime is a jlink-ed JRE");
    String modules = file.stages().get(1).stream().filter(i -> i.keyword().equals("ARG") && i.args().startsWith("JRE_MODULES="))
        .findFirst().orElseThrow().args().substring("JRE_MODULES=".length());
    // Admin HTTP (com.sun.net.httpserver), Netty and protobuf (sun.misc.Unsafe) fail without these.
    assertTrue(Set.of(modules.split(",")).containsAll(Set.of("java.base", "jdk.httpserver", "jdk.unsupported", "java.logging")), modules);

    String built = "/src/" + service + "/target/" + service + ".jar";
    assertTrue(file.stages().get(0).stream().anyMatch(i -> i.keyword().equals("RUN") && i.args().contains("-pl " + service + " -am package")));
    assertTrue(file.all("COPY").stream().anyMatch(i -> i.args().equals("--from=build " + built + " /opt/weir/" + service + ".jar")));
    assertEquals(List.of("java", "--enable-native-access=ALL-UNNAMED", "-jar", "/opt/weir/" + service + ".jar"),
        execForm(file.last("ENTRYPOINT")), "exec form: java is PID 1 and gets SIGTERM");
    assertEquals(List.of("--config", "/etc/weir/config/gateway.yaml"), execForm(file.last("CMD")));

    assertEquals("10001:10001", file.last("USER").args());
    GatewayConfig d = defaults();
    int main = service.equals("ext-proc-server") ? d.getExtProc().getGrpcPort() : d.getControlPlane().getAdsPort();
    int admin = service.equals("ext-proc-server") ? d.getExtProc().getAdminPort() : d.getControlPlane().getAdminPort();
    assertEquals(main + " " + admin, file.last("EXPOSE").args());
    Matcher health = Pattern.compile("--interval=\\S+ --timeout=\\S+ --start-period=\\S+ --retries=\\d+ (CMD .*)")
        .matcher(file.last("HEALTHCHECK").args());
    assertTrue(health.matches(), file.last("HEALTHCHECK").args());
    List<String> probe = execForm(new Dockerfile.Instruction("HEALTHCHECK", health.group(1)));
    assertEquals(List.of("/opt/weir/bin/weir-probe", String.valueOf(admin),
        service.equals("ext-proc-server") ? "/readyz" : "/healthz"), probe);
    assertTrue(file.all("COPY").stream().anyMatch(i -> i.args().equals("--chmod=0755 deploy/docker/weir-probe /opt/weir/bin/weir-probe")));
    assertTrue(Files.isExecutable(DOCKER.resolve("weir-probe")));

    String labels = String.join(" ", file.all("LABEL").stream().map(Dockerfile.Instruction::args).toList());
    for (String label : List.of("title", "description", "version", "revision", "created", "vendor", "base.name")) {
      assertTrue(labels.contains("org.opencontainers.image." + label + "="), label);
    }
    String jvm = file.all("ENV").stream().map(Dockerfile.Instruction::args).filter(a -> a.startsWith("JDK_JAVA_OPTIONS="))
        .findFirst().orElseThrow();
    for (String flag : List.of("-XX:MaxRAMPercentage=", "-XX:+ExitOnOutOfMemoryError", "-XX:-UsePerfData", "-Djava.io.tmpdir=/tmp")) {
      assertTrue(jvm.contains(flag), flag);
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"edge", "sidecar"})
  void kubernetesRunsTheImagesAsTheirUserWithTheirProbes(String topology) throws Exception {
    Rendered rendered = Rendered.of(topology, KubernetesManifestsTest.render(topology));
    for (Deployment d : rendered.deployments()) {
      for (Container c : Consistency.containers(d.getSpec().getTemplate().getSpec())) {
        String service = Wiring.service(c);
        if (!service.equals("ext-proc-server") && !service.equals("xds-control-plane")) {
          continue;
        }
        Long user = c.getSecurityContext().getRunAsUser() != null ? c.getSecurityContext().getRunAsUser()
            : d.getSpec().getTemplate().getSpec().getSecurityContext().getRunAsUser();
        assertEquals(10001L, user, d.getMetadata().getName() + "/" + c.getName() + " runs as the image's user");
        assertNotNull(c.getReadinessProbe());
        if (c.getReadinessProbe().getExec() != null) {
          Dockerfile file = Dockerfile.read(DOCKER.resolve(service + ".Dockerfile"));
          Matcher health = Pattern.compile(".*(CMD .*)").matcher(file.last("HEALTHCHECK").args());
          assertTrue(health.matches());
          assertEquals(execForm(new Dockerfile.Instruction("HEALTHCHECK", health.group(1))), c.getReadinessProbe().getExec().getCommand(),
              "the exec probe is the image's health check");
        }
      }
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"ext-proc-server", "xds-control-plane"})
  void jibProfileBuildsTheSameImageAsTheDockerfile(String service) throws Exception {
    Dockerfile file = Dockerfile.read(DOCKER.resolve(service + ".Dockerfile"));
    org.w3c.dom.Document parent = pom(Path.of("..", "pom.xml"));
    org.w3c.dom.Document module = pom(Path.of("..", service, "pom.xml"));
    assertEquals("false", text(module, "/project/properties/jib.skip"), service + " opts in to the jib profile");
    assertEquals(file.last("EXPOSE").args().replace(' ', ','), text(module, "/project/properties/weir.image.ports"));
    String jvm = file.all("ENV").stream().map(Dockerfile.Instruction::args).filter(a -> a.startsWith("JDK_JAVA_OPTIONS="))
        .findFirst().orElseThrow().replaceAll("^JDK_JAVA_OPTIONS=\"|\"$", "");
    String heap = text(module, "/project/properties/weir.image.heapPercent");
    String jib = "/project/profiles/profile[id='jib']/build/plugins/plugin[artifactId='jib-maven-plugin']/configuration";
    List<String> jibFlags = texts(parent, jib + "/container/jvmFlags/jvmFlag").stream()
        .map(f -> f.replace("${weir.image.heapPercent}", heap)).toList();
    assertEquals(Set.of(jvm.split(" ")), Set.copyOf(jibFlags.subList(1, jibFlags.size())), "the same JVM flags");
    assertEquals("--enable-native-access=ALL-UNNAMED", jibFlags.get(0));
    assertEquals(file.last("USER").args(), text(parent, jib + "/container/user"));
    assertEquals(execForm(file.last("CMD")), texts(parent, jib + "/container/args/arg"));
    assertEquals("weir-probe", text(parent, jib + "/extraDirectories/paths/path/includes"));
    assertEquals("/opt/weir/bin", text(parent, jib + "/extraDirectories/paths/path/into"));
  }

  private static org.w3c.dom.Document pom(Path file) throws Exception {
    return javax.xml.parsers.DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(file.toFile());
  }

  private static List<String> texts(org.w3c.dom.Document doc, String xpath) throws Exception {
    var nodes = (org.w3c.dom.NodeList) javax.xml.xpath.XPathFactory.newInstance().newXPath()
        .evaluate(xpath, doc, javax.xml.xpath.XPathConstants.NODESET);
    List<String> out = new java.util.ArrayList<>();
    for (int i = 0; i < nodes.getLength(); i++) {
      out.add(nodes.item(i).getTextContent().strip());
    }
    return out;
  }

  private static String text(org.w3c.dom.Document doc, String xpath) throws Exception {
    List<String> all = texts(doc, xpath);
    assertEquals(1, all.size(), xpath);
    return all.get(0);
  }
}
