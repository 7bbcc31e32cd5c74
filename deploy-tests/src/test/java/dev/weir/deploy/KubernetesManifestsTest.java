package dev.weir.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.testkit.EnvoyYaml;
import io.envoyproxy.envoy.config.bootstrap.v3.Bootstrap;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyIngressRule;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * deploy/kubernetes, rendered by the real kustomize (kubectl kustomize) for each topology, read
 * strictly into Kubernetes' and cert-manager's types, the Envoy configs in its ConfigMaps read
 * strictly into Envoy's, and every reference across objects checked, with proof that a broken
 * reference is caught.
 */
class KubernetesManifestsTest {
  private static final Map<String, String> RENDERS = new ConcurrentHashMap<>();
  private static final Path DEPLOY_DOC = Path.of("..", "docs", "deploy.md");

  static String render(String topology) throws Exception {
    String cached = RENDERS.get(topology);
    if (cached == null) {
      cached = Kustomize.render(topology);
      RENDERS.put(topology, cached);
    }
    return cached;
  }

  /**
   * The Secrets docs/deploy.md has the operator create, with their keys, read from its
   * {@code kubectl create secret generic NAME --from-file=KEY=… --from-literal=KEY=…} lines.
   */
  static Map<String, Set<String>> operatorSecrets() throws Exception {
    String doc = Files.readString(DEPLOY_DOC).replace("\\\n", " ");
    Map<String, Set<String>> secrets = new LinkedHashMap<>();
    Matcher m = Pattern.compile("create secret generic (\\S+)([^\\n]*)").matcher(doc);
    while (m.find()) {
      Set<String> keys = new TreeSet<>();
      Matcher k = Pattern.compile("--from-(?:file|literal)=([^=\\s]+)=").matcher(m.group(2));
      while (k.find()) {
        keys.add(k.group(1));
      }
      secrets.merge(m.group(1), keys, (a, b) -> {
        Set<String> both = new TreeSet<>(a);
        both.addAll(b);
        return both;
      });
    }
    return secrets;
  }

  static List<String> problems(Rendered rendered) throws Exception {
    Consistency consistency = new Consistency(rendered, operatorSecrets());
    List<String> problems = new ArrayList<>(consistency.check());
    problems.addAll(new Wiring(rendered, consistency).check());
    return problems;
  }

  @ParameterizedTest
  @ValueSource(strings = {"edge", "sidecar"})
  void everyRenderedObjectParsesStrictlyIntoItsKubernetesType(String topology) throws Exception {
    List<Map<String, Object>> docs = StrictKubernetes.documents(render(topology));
    Rendered rendered = Rendered.of(topology, render(topology));
    assertEquals(docs.size(), rendered.objects().size());
    assertTrue(rendered.deployments().size() >= 2, topology);
    assertEquals(4, rendered.certificates().size(), "the CA and the three leaf certificates of ../base");
  }

  @Test
  void aMisspelledFieldFailsTheStrictRead() throws Exception {
    String edge = render("edge");
    var k8s = assertThrows(StrictKubernetes.InvalidManifestException.class, () -> StrictKubernetes.readAll(
        edge.replace("terminationGracePeriodSeconds: 45", "terminationGracePeriodSecond: 45")));
    assertTrue(k8s.getMessage().contains("Deployment ext-proc-server") && k8s.getMessage().contains("terminationGracePeriodSecond"),
        k8s.getMessage());
    var cert = assertThrows(StrictKubernetes.InvalidManifestException.class, () -> StrictKubernetes.readAll(
        edge.replace("renewBefore: 720h", "renewbefore: 720h")));
    assertTrue(cert.getMessage().contains("Certificate") && cert.getMessage().contains("renewbefore"), cert.getMessage());
    var kind = assertThrows(StrictKubernetes.InvalidManifestException.class, () -> StrictKubernetes.readAll(
        edge.replace("kind: PodDisruptionBudget", "kind: PodDisruptionBudgets")));
    assertTrue(kind.getMessage().contains("not a kind"), kind.getMessage());
  }

  @ParameterizedTest
  @ValueSource(strings = {"edge", "sidecar"})
  void namesPortsLabelsSelectorsAndReferencesAgreeAcrossObjects(String topology) throws Exception {
    assertEquals(List.of(), problems(Rendered.of(topology, render(topology))));
  }

  @Test
  void aBrokenReferenceIsReportedByName() throws Exception {
    String edge = render("edge");
    Map<String, String[]> breakages = new LinkedHashMap<>();
    breakages.put("Secret weir-envoy-cert",
        new String[] {"secret:\n          secretName: weir-envoy-tls", "secret:\n          secretName: weir-envoy-cert"});
    breakages.put("targets extproc", new String[] {"targetPort: ext-proc\n", "targetPort: extproc\n"});
    breakages.put("port 50052", new String[] {"port_value: 50051 }", "port_value: 50052 }"});
    breakages.put("is not in allowedClientSans", new String[] {"  - spiffe://weir/envoy\n", "  - spiffe://weir/other\n"});
    breakages.put("leaves no room", new String[] {"terminationGracePeriodSeconds: 45", "terminationGracePeriodSeconds: 20"});
    breakages.put("does not carry", new String[] {"dnsNames:\n  - ext-proc-server\n", "dnsNames:\n  - ext-proc\n"});
    breakages.put("admits pods labelled",
        new String[] {"part-of: weir\n        weir.dev/envoy: \"true\"\n", "part-of: weir\n        weir.dev/envoy: \"yes\"\n"});
    breakages.put("Redis host", new String[] {"name: redis\n", "name: redis-main\n"});
    breakages.put("reads /etc/weir/admin/token", new String[] {"mountPath: /etc/weir/admin\n", "mountPath: /etc/weir/admin-token\n"});
    for (var b : breakages.entrySet()) {
      String broken = edge.replace(b.getValue()[0], b.getValue()[1]);
      assertFalse(broken.equals(edge), "the breakage for \"" + b.getKey() + "\" changed nothing");
      List<String> problems = problems(Rendered.of("edge", broken));
      assertTrue(problems.stream().anyMatch(p -> p.contains(b.getKey())), b.getKey() + " not reported; got " + problems);
    }
    String missingMap = edge.replace("metadata:\n  name: weir-gateway-config\n", "metadata:\n  name: weir-gateway-conf\n");
    assertFalse(missingMap.equals(edge));
    List<String> problems = new Consistency(Rendered.of("edge", missingMap), operatorSecrets()).check();
    assertTrue(problems.stream().anyMatch(p -> p.contains("missing ConfigMap weir-gateway-config")), problems.toString());
  }

  @ParameterizedTest
  @ValueSource(strings = {"edge", "sidecar"})
  void envoyConfigsInConfigMapsParseStrictlyAsBootstrapAndSds(String topology) throws Exception {
    Rendered rendered = Rendered.of(topology, render(topology));
    ConfigMap map = rendered.generatedConfigMap(topology.equals("edge") ? "envoy-bootstrap" : "envoy-sidecar-bootstrap");
    Bootstrap bootstrap = EnvoyYaml.parse(map.getData().get("envoy.yaml"), Bootstrap.newBuilder()).build();
    assertEquals(Set.of("weir_ext_proc", "weir_xds"), Set.copyOf(bootstrap.getStaticResources().getClustersList().stream()
        .map(c -> c.getName()).toList()));
    for (String sds : List.of("envoy-client.yaml", "weir-ca.yaml")) {
      var response = EnvoyYaml.parse(map.getData().get(sds),
          io.envoyproxy.envoy.service.discovery.v3.DiscoveryResponse.newBuilder()).build();
      assertEquals(1, response.getResourcesCount(), sds);
    }
    assertTrue(map.getMetadata().getName().matches(map.getMetadata().getName().startsWith("envoy-bootstrap")
        ? "envoy-bootstrap-[a-z0-9]{10}" : "envoy-sidecar-bootstrap-[a-z0-9]{10}"),
        "a changed bootstrap gets a new name, so Envoy pods roll (Envoy reads its bootstrap at start only)");
  }

  @Test
  void edgeBootstrapIsTheShippedMtlsBootstrapWithCertificatesOverSds() throws Exception {
    Bootstrap shipped = EnvoyYaml.bootstrap(Path.of("..", "envoy", "envoy-mtls.yaml"));
    Bootstrap edge = EnvoyYaml.bootstrap(Kustomize.KUBERNETES.resolve("edge/envoy-bootstrap.yaml"));
    assertEquals(shipped.getNode(), edge.getNode());
    assertEquals(shipped.getAdmin(), edge.getAdmin());
    assertEquals(shipped.getDynamicResources(), edge.getDynamicResources());
    for (int i = 0; i < shipped.getStaticResources().getClustersCount(); i++) {
      var a = shipped.getStaticResources().getClusters(i);
      var b = edge.getStaticResources().getClusters(i);
      assertEquals(a.getName(), b.getName());
      assertEquals(a.getLoadAssignment(), b.getLoadAssignment());
      assertEquals(a.getTypedExtensionProtocolOptionsMap(), b.getTypedExtensionProtocolOptionsMap());
      var tlsA = a.getTransportSocket().getTypedConfig().unpack(UpstreamTlsContext.class);
      var tlsB = b.getTransportSocket().getTypedConfig().unpack(UpstreamTlsContext.class);
      assertEquals(tlsA.getSni(), tlsB.getSni());
      assertEquals(tlsA.getCommonTlsContext().getAlpnProtocolsList(), tlsB.getCommonTlsContext().getAlpnProtocolsList());
      assertEquals(tlsA.getCommonTlsContext().getValidationContext().getMatchTypedSubjectAltNamesList(),
          tlsB.getCommonTlsContext().getCombinedValidationContext().getDefaultValidationContext().getMatchTypedSubjectAltNamesList());
      assertEquals(5, b.getDnsRefreshRate().getSeconds(), "a draining ext-proc-server pod leaves Envoy's hosts within 5 s");
    }
  }

  @Test
  void sidecarListenerIsTheShippedStaticListenerBoundToLoopback() throws Exception {
    Listener shipped = EnvoyYaml.bootstrap(Path.of("..", "envoy", "envoy.yaml")).getStaticResources().getListeners(0);
    Listener sidecar = EnvoyYaml.bootstrap(Kustomize.KUBERNETES.resolve("sidecar/envoy-bootstrap.yaml")).getStaticResources().getListeners(0);
    assertEquals("127.0.0.1", sidecar.getAddress().getSocketAddress().getAddress());
    Listener.Builder onLoopback = shipped.toBuilder();
    onLoopback.getAddressBuilder().getSocketAddressBuilder().setAddress("127.0.0.1");
    assertEquals(onLoopback.build(), sidecar);
    for (String sds : List.of("envoy-client.yaml", "weir-ca.yaml")) {
      assertEquals(Files.readString(Kustomize.KUBERNETES.resolve("edge").resolve(sds)),
          Files.readString(Kustomize.KUBERNETES.resolve("sidecar").resolve(sds)), sds);
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"edge", "sidecar"})
  void onlyEnvoysReachExtProcAndTheControlPlane(String topology) throws Exception {
    Rendered rendered = Rendered.of(topology, render(topology));
    NetworkPolicy deny = rendered.named(NetworkPolicy.class, "weir-default-deny-ingress").orElseThrow();
    assertTrue(deny.getSpec().getPodSelector().getMatchLabels() == null || deny.getSpec().getPodSelector().getMatchLabels().isEmpty());
    assertEquals(List.of(), deny.getSpec().getIngress());
    Map<String, Integer> guarded = topology.equals("edge") ? Map.of("ext-proc-server", 50051, "xds-control-plane", 18000)
        : Map.of("xds-control-plane", 18000);
    for (var g : guarded.entrySet()) {
      NetworkPolicy np = rendered.named(NetworkPolicy.class, g.getKey()).orElseThrow();
      for (NetworkPolicyIngressRule rule : np.getSpec().getIngress()) {
        boolean opensGuardedPort = rule.getPorts().stream().anyMatch(p -> p.getPort().getIntVal() == g.getValue().intValue());
        if (opensGuardedPort) {
          assertEquals(1, rule.getFrom().size(), np.getMetadata().getName());
          assertEquals(Map.of("weir.dev/envoy", "true"), rule.getFrom().get(0).getPodSelector().getMatchLabels());
          assertEquals(null, rule.getFrom().get(0).getNamespaceSelector());
        }
      }
    }
    // The label that opens those ports is on exactly the pods that run Envoy.
    for (Deployment d : rendered.deployments()) {
      boolean runsEnvoy = Consistency.containers(d.getSpec().getTemplate().getSpec()).stream()
          .anyMatch(c -> Wiring.service(c).equals("envoy"));
      assertEquals(runsEnvoy, "true".equals(d.getSpec().getTemplate().getMetadata().getLabels().get("weir.dev/envoy")),
          d.getMetadata().getName());
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"edge", "sidecar"})
  void controlPlaneRunsTwoReplicasWithoutAutoscalingAndKeepsOneThroughDisruptions(String topology) throws Exception {
    Rendered rendered = Rendered.of(topology, render(topology));
    assertEquals(2, rendered.deployment("xds-control-plane").getSpec().getReplicas());
    assertEquals(1, rendered.named(PodDisruptionBudget.class, "xds-control-plane").orElseThrow().getSpec().getMinAvailable().getIntVal());
    assertTrue(rendered.hpas().stream().noneMatch(h -> h.getSpec().getScaleTargetRef().getName().equals("xds-control-plane")));
  }

  @Test
  void edgeRunsTwoOrMoreOfEachServiceWithBudgetsAndAutoscalers() throws Exception {
    Rendered rendered = Rendered.of("edge", render("edge"));
    for (String name : List.of("envoy", "ext-proc-server", "xds-control-plane")) {
      assertEquals(2, rendered.deployment(name).getSpec().getReplicas(), name);
      assertNotNull(rendered.named(PodDisruptionBudget.class, name).orElse(null), name);
    }
    for (String name : List.of("envoy", "ext-proc-server")) {
      HorizontalPodAutoscaler hpa = rendered.named(HorizontalPodAutoscaler.class, name).orElseThrow();
      assertEquals(2, hpa.getSpec().getMinReplicas());
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"edge", "sidecar"})
  void everyContainerRunsAsNonRootOnAReadOnlyRootWithResourcesAndProbes(String topology) throws Exception {
    for (Deployment d : Rendered.of(topology, render(topology)).deployments()) {
      PodSpec pod = d.getSpec().getTemplate().getSpec();
      assertTrue(pod.getSecurityContext().getRunAsNonRoot(), d.getMetadata().getName());
      assertEquals(Boolean.FALSE, pod.getAutomountServiceAccountToken(), d.getMetadata().getName());
      for (Container c : Consistency.containers(pod)) {
        String where = d.getMetadata().getName() + "/" + c.getName();
        assertTrue(c.getSecurityContext().getReadOnlyRootFilesystem(), where);
        assertEquals(Boolean.FALSE, c.getSecurityContext().getAllowPrivilegeEscalation(), where);
        assertEquals(List.of("ALL"), c.getSecurityContext().getCapabilities().getDrop(), where);
        assertNotNull(c.getResources().getRequests().get("cpu"), where);
        if (!c.getName().equals("app")) {
          assertNotNull(c.getReadinessProbe(), where);
          assertNotNull(c.getResources().getLimits().get("memory"), where);
        }
      }
    }
  }

  @Test
  void operatorSecretsInTheDeployDocAreExactlyTheOnesTheManifestsMount() throws Exception {
    Set<String> mounted = new TreeSet<>();
    for (String topology : List.of("edge", "sidecar")) {
      Rendered rendered = Rendered.of(topology, render(topology));
      Consistency consistency = new Consistency(rendered, Map.of());
      for (Deployment d : rendered.deployments()) {
        PodSpec pod = d.getSpec().getTemplate().getSpec();
        pod.getVolumes().stream().filter(v -> v.getSecret() != null).map(v -> v.getSecret().getSecretName())
            .filter(s -> consistency.certificateSecret(s) == null).forEach(mounted::add);
        Consistency.containers(pod).forEach(c -> c.getEnv().stream()
            .filter(e -> e.getValueFrom() != null && e.getValueFrom().getSecretKeyRef() != null)
            .forEach(e -> mounted.add(e.getValueFrom().getSecretKeyRef().getName())));
      }
    }
    assertEquals(mounted, operatorSecrets().keySet());
  }
}
