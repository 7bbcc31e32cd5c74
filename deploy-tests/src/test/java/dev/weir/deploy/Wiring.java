package dev.weir.deploy;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.weir.config.ConfigException;
import dev.weir.config.ConfigLoader;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.config.v1.ServerTls;
import dev.weir.testkit.EnvoyYaml;
import io.envoyproxy.envoy.config.bootstrap.v3.Bootstrap;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CommonTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.SdsSecretConfig;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.Secret;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryResponse;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.KeyToPath;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Checks how Weir is wired across a topology's objects: each Envoy's bootstrap (from its
 * ConfigMap) parses strictly and every file it names is mounted from a ConfigMap or Secret key
 * that exists; each cluster reaches a Service (or a container of the same pod) running the right
 * service, whose certificate carries the name Envoy expects; Envoy's client certificate is one
 * both services accept; every file the gateway config names is mounted in each service that reads
 * it; Redis is a Service; and ext-proc-server's drain fits in its pod's grace period.
 */
final class Wiring {
  static final String GATEWAY_CONFIG_MAP = "weir-gateway-config";
  static final String EXT_PROC = "ext-proc-server";
  static final String XDS = "xds-control-plane";

  private final Rendered rendered;
  private final Consistency consistency;
  private final List<String> problems = new ArrayList<>();
  private GatewayConfig gateway;

  Wiring(Rendered rendered, Consistency consistency) {
    this.rendered = rendered;
    this.consistency = consistency;
  }

  /** The gateway config of the ConfigMap weir-gateway-config, loaded as both services load it. */
  static GatewayConfig gatewayConfig(Rendered rendered) throws IOException, ConfigException {
    ConfigMap cm = rendered.named(ConfigMap.class, GATEWAY_CONFIG_MAP)
        .orElseThrow(() -> new AssertionError(rendered.topology() + ": no ConfigMap " + GATEWAY_CONFIG_MAP));
    Path file = Files.createTempFile("gateway", ".yaml");
    try {
      Files.writeString(file, cm.getData().get("gateway.yaml"));
      // Credentials are files of Secrets only a cluster has; their mounts are checked below.
      return new ConfigLoader(name -> null, false).load(file);
    } finally {
      Files.deleteIfExists(file);
    }
  }

  List<String> check() throws IOException, ConfigException {
    gateway = gatewayConfig(rendered);
    for (Deployment d : rendered.deployments()) {
      PodSpec pod = d.getSpec().getTemplate().getSpec();
      for (Container c : Consistency.containers(pod)) {
        String where = "Deployment " + d.getMetadata().getName() + " container " + c.getName();
        switch (service(c)) {
          case EXT_PROC -> checkService(where, d, c, gateway.getSecurity().getExtProcTls());
          case XDS -> checkService(where, d, c, gateway.getSecurity().getControlPlaneTls());
          case "envoy" -> checkEnvoy(where, d, c);
          default -> { }
        }
      }
    }
    String redisHost = URI.create(gateway.getRedis().getUri()).getHost();
    if (rendered.named(Service.class, redisHost).isEmpty()) {
      add("the gateway config's Redis host " + redisHost + " is not a Service");
    }
    return problems;
  }

  /** Which of Weir's parts an image runs: the last segment of its repository. */
  static String service(Container c) {
    String repo = c.getImage().replaceAll("[:@].*$", "");
    return repo.substring(repo.lastIndexOf('/') + 1);
  }

  private void checkService(String where, Deployment d, Container c, ServerTls tls) {
    PodSpec pod = d.getSpec().getTemplate().getSpec();
    String config = argAfter(c, "--config");
    if (config == null || !GATEWAY_CONFIG_MAP.equals(source(pod, c, config))) {
      add(where + ": --config " + config + " is not the ConfigMap " + GATEWAY_CONFIG_MAP + "'s gateway.yaml");
    }
    List<String> files = new ArrayList<>(List.of(tls.getCertFile(), tls.getKeyFile(), tls.getClientCaFile()));
    gateway.getBackendsList().stream().filter(b -> b.getCredential().hasFile()).forEach(b -> files.add(b.getCredential().getFile()));
    if (gateway.getSecurity().getAdminToken().hasFile()) {
      files.add(gateway.getSecurity().getAdminToken().getFile());
    }
    for (String file : files) {
      if (source(pod, c, file) == null) {
        add(where + " reads " + file + " (gateway config), which no volume of it provides");
      }
    }
    if (service(c).equals(EXT_PROC)) {
      int preStop = c.getLifecycle() != null && c.getLifecycle().getPreStop() != null && c.getLifecycle().getPreStop().getExec() != null
          ? Integer.parseInt(c.getLifecycle().getPreStop().getExec().getCommand().get(1)) : 0;
      long grace = pod.getTerminationGracePeriodSeconds() == null ? 30 : pod.getTerminationGracePeriodSeconds();
      int drain = gateway.getExtProc().getDrainSeconds();
      if (grace < preStop + drain + 5) {
        add(where + ": terminationGracePeriodSeconds " + grace + " leaves no room for preStop " + preStop
            + " s + extProc.drainSeconds " + drain + " s");
      }
    }
  }

  private void checkEnvoy(String where, Deployment d, Container c) throws IOException {
    PodSpec pod = d.getSpec().getTemplate().getSpec();
    if (!"true".equals(d.getSpec().getTemplate().getMetadata().getLabels().get("weir.dev/envoy"))) {
      add(where + ": the pod lacks the label weir.dev/envoy: \"true\" that the NetworkPolicies admit");
    }
    String bootstrapPath = argAfter(c, "-c");
    ConfigMap bootstrapMap = configMap(source(pod, c, bootstrapPath));
    if (bootstrapMap == null) {
      add(where + ": -c " + bootstrapPath + " is not a mounted ConfigMap key");
      return;
    }
    Bootstrap bootstrap = EnvoyYaml.parse(bootstrapMap.getData().get(Path.of(bootstrapPath).getFileName().toString()),
        Bootstrap.newBuilder()).build();
    for (Cluster cluster : bootstrap.getStaticResources().getClustersList()) {
      String cw = where + " cluster " + cluster.getName();
      String target = switch (cluster.getName()) {
        case "weir_ext_proc" -> EXT_PROC;
        case "weir_xds" -> XDS;
        default -> null;
      };
      if (target == null) {
        add(cw + ": not one of Weir's clusters");
        continue;
      }
      UpstreamTlsContext tls = unpack(cluster.getTransportSocket().getTypedConfig(), UpstreamTlsContext.class);
      if (tls == null) {
        add(cw + " has no UpstreamTlsContext: Weir's services need mTLS beyond loopback in these manifests");
        continue;
      }
      String clientCertSecret = checkSds(cw, pod, c, tls.getCommonTlsContext());
      if (clientCertSecret != null) {
        checkClientCertificate(cw, clientCertSecret);
      }
      var sans = tls.getCommonTlsContext().getCombinedValidationContext().getDefaultValidationContext()
          .getMatchTypedSubjectAltNamesList().stream().map(m -> m.getMatcher().getExact()).toList();
      if (!sans.equals(List.of(tls.getSni()))) {
        add(cw + ": checks SANs " + sans + " but sends SNI " + tls.getSni());
      }
      for (LbEndpoint ep : cluster.getLoadAssignment().getEndpoints(0).getLbEndpointsList()) {
        var address = ep.getEndpoint().getAddress().getSocketAddress();
        checkEndpoint(cw, d, target, address.getAddress(), address.getPortValue(), tls.getSni());
      }
    }
  }

  /** Checks the SDS files and what they name; returns the Secret holding Envoy's client certificate. */
  private String checkSds(String where, PodSpec pod, Container c, CommonTlsContext context) throws IOException {
    List<SdsSecretConfig> configs = new ArrayList<>(context.getTlsCertificateSdsSecretConfigsList());
    configs.add(context.getCombinedValidationContext().getValidationContextSdsSecretConfig());
    String clientCertSecret = null;
    for (SdsSecretConfig sds : configs) {
      String path = sds.getSdsConfig().getPathConfigSource().getPath();
      ConfigMap map = configMap(source(pod, c, path));
      if (map == null) {
        add(where + ": SDS file " + path + " is not a mounted ConfigMap key");
        continue;
      }
      DiscoveryResponse response = EnvoyYaml.parse(map.getData().get(Path.of(path).getFileName().toString()),
          DiscoveryResponse.newBuilder()).build();
      if (response.getResourcesCount() != 1) {
        // SdsApi::onConfigUpdate (source/common/secret/sds_api.cc) takes exactly one Secret.
        add(where + ": SDS file " + path + " must hold exactly one Secret");
        continue;
      }
      Secret secret = unpack(response.getResources(0), Secret.class);
      if (!secret.getName().equals(sds.getName())) {
        add(where + ": SDS file " + path + " holds " + secret.getName() + ", not " + sds.getName());
      }
      List<String> files = new ArrayList<>();
      String watched;
      if (secret.hasTlsCertificate()) {
        files.add(secret.getTlsCertificate().getCertificateChain().getFilename());
        files.add(secret.getTlsCertificate().getPrivateKey().getFilename());
        watched = secret.getTlsCertificate().getWatchedDirectory().getPath();
        clientCertSecret = secretName(pod, c, secret.getTlsCertificate().getCertificateChain().getFilename());
      } else {
        files.add(secret.getValidationContext().getTrustedCa().getFilename());
        watched = secret.getValidationContext().getWatchedDirectory().getPath();
      }
      for (String file : files) {
        if (source(pod, c, file) == null) {
          add(where + ": " + file + " (SDS " + secret.getName() + ") is not a mounted key");
        }
        if (!Path.of(file).getParent().toString().equals(watched)) {
          add(where + ": SDS " + secret.getName() + " watches " + watched + ", not the folder of " + file
              + " (rotated certificates would not be re-read)");
        }
      }
    }
    return clientCertSecret;
  }

  private void checkClientCertificate(String where, String secretName) {
    var cert = consistency.certificateSecret(secretName);
    if (cert == null) {
      add(where + ": Envoy's certificate comes from Secret " + secretName + ", which no Certificate fills");
      return;
    }
    for (ServerTls tls : List.of(gateway.getSecurity().getExtProcTls(), gateway.getSecurity().getControlPlaneTls())) {
      List<String> uris = cert.spec().uris() == null ? List.of() : cert.spec().uris();
      if (uris.stream().noneMatch(tls.getAllowedClientSansList()::contains)) {
        add(where + ": Envoy's certificate (" + cert.metadata().getName() + ", URIs " + uris
            + ") is not in allowedClientSans " + tls.getAllowedClientSansList());
      }
    }
  }

  private void checkEndpoint(String where, Deployment envoyPod, String target, String host, int port, String sni) {
    int expectedPort = target.equals(EXT_PROC) ? gateway.getExtProc().getGrpcPort() : gateway.getControlPlane().getAdsPort();
    if (port != expectedPort) {
      add(where + ": port " + port + ", but the gateway config serves " + target + " on " + expectedPort);
    }
    List<Deployment> serving;
    if (host.equals("127.0.0.1")) {
      serving = List.of(envoyPod);
      Container sidecar = Consistency.containers(envoyPod.getSpec().getTemplate().getSpec()).stream()
          .filter(c -> service(c).equals(target)).findFirst().orElse(null);
      if (sidecar == null) {
        add(where + ": reaches " + target + " on loopback, but no container of the pod runs it");
        return;
      }
    } else {
      Service service = rendered.named(Service.class, host).orElse(null);
      if (service == null) {
        add(where + ": reaches " + host + ", which is not a Service");
        return;
      }
      if (service.getSpec().getPorts().stream().noneMatch(p -> p.getPort() == port)) {
        add(where + ": Service " + host + " has no port " + port);
      }
      if (!"None".equals(service.getSpec().getClusterIP())) {
        add(where + ": Service " + host + " is not headless, so Envoy would balance connections, not streams");
      }
      serving = rendered.deployments().stream().filter(d -> d.getSpec().getTemplate().getMetadata().getLabels()
          .entrySet().containsAll(service.getSpec().getSelector().entrySet())).toList();
    }
    for (Deployment d : serving) {
      PodSpec pod = d.getSpec().getTemplate().getSpec();
      for (Container c : Consistency.containers(pod)) {
        if (!service(c).equals(target)) {
          continue;
        }
        ServerTls tls = target.equals(EXT_PROC) ? gateway.getSecurity().getExtProcTls() : gateway.getSecurity().getControlPlaneTls();
        String secret = secretName(pod, c, tls.getCertFile());
        var cert = secret == null ? null : consistency.certificateSecret(secret);
        if (cert == null || cert.spec().dnsNames() == null || !cert.spec().dnsNames().contains(sni)) {
          add(where + ": Envoy expects the name " + sni + ", which the certificate " + target + " serves in Deployment "
              + d.getMetadata().getName() + " does not carry");
        }
        if (host.equals("127.0.0.1") && !"127.0.0.1".equals(argAfter(c, "--bind"))) {
          add(where + ": the sidecar " + target + " must bind 127.0.0.1 (--bind)");
        }
      }
    }
  }

  /** The ConfigMap or Secret name a file of a container comes from, or null if none provides it. */
  String source(PodSpec pod, Container c, String file) {
    return resolve(pod, c, file, null);
  }

  private String secretName(PodSpec pod, Container c, String file) {
    return resolve(pod, c, file, "secret");
  }

  private String resolve(PodSpec pod, Container c, String file, String onlyKind) {
    if (file == null) {
      return null;
    }
    Path path = Path.of(file);
    for (VolumeMount m : c.getVolumeMounts()) {
      if (!path.getParent().equals(Path.of(m.getMountPath()))) {
        continue;
      }
      String name = path.getFileName().toString();
      Volume v = pod.getVolumes().stream().filter(x -> x.getName().equals(m.getName())).findFirst().orElse(null);
      if (v == null) {
        return null;
      }
      if (v.getConfigMap() != null && !"secret".equals(onlyKind)) {
        ConfigMap cm = rendered.named(ConfigMap.class, v.getConfigMap().getName()).orElse(null);
        String key = keyFor(v.getConfigMap().getItems(), name);
        return cm != null && key != null && cm.getData().containsKey(key) ? cm.getMetadata().getName() : null;
      }
      if (v.getSecret() != null) {
        Set<String> keys = consistency.secretKeys(v.getSecret().getSecretName());
        String key = keyFor(v.getSecret().getItems(), name);
        return keys != null && key != null && keys.contains(key) ? v.getSecret().getSecretName() : null;
      }
    }
    return null;
  }

  private static String keyFor(List<KeyToPath> items, String fileName) {
    if (items == null || items.isEmpty()) {
      return fileName;
    }
    return items.stream().filter(i -> i.getPath().equals(fileName)).map(KeyToPath::getKey).findFirst().orElse(null);
  }

  private ConfigMap configMap(String name) {
    return name == null ? null : rendered.named(ConfigMap.class, name).orElse(null);
  }

  static String argAfter(Container c, String flag) {
    List<String> args = c.getArgs();
    int i = args.indexOf(flag);
    return i >= 0 && i + 1 < args.size() ? args.get(i + 1) : null;
  }

  private static <T extends com.google.protobuf.Message> T unpack(Any any, Class<T> type) {
    try {
      return any.is(type) ? any.unpack(type) : null;
    } catch (InvalidProtocolBufferException e) {
      throw new UncheckedIOException(new IOException(e));
    }
  }

  private void add(String problem) {
    problems.add(rendered.topology() + ": " + problem);
  }
}
