package dev.weir.deploy;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.KeyToPath;
import io.fabric8.kubernetes.api.model.LabelSelector;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyIngressRule;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyPeer;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyPort;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Checks that a topology's objects refer to each other correctly, as a cluster would find out
 * only at run time: selectors that select pods, ports by name that exist, volumes, ConfigMaps
 * and Secrets (and their keys) that exist, HPAs and PDBs that target something. Returns the
 * problems found, each naming the objects involved; none means consistent.
 */
final class Consistency {
  private final Rendered rendered;
  /** Secrets the operator creates (name → keys), as docs/deploy.md tells them to. */
  private final Map<String, Set<String>> operatorSecrets;
  private final List<String> problems = new ArrayList<>();

  Consistency(Rendered rendered, Map<String, Set<String>> operatorSecrets) {
    this.rendered = rendered;
    this.operatorSecrets = operatorSecrets;
  }

  List<String> check() {
    for (Deployment d : rendered.deployments()) {
      checkDeployment(d);
    }
    for (Service s : rendered.services()) {
      checkService(s);
    }
    for (PodDisruptionBudget pdb : rendered.pdbs()) {
      if (podsSelectedBy(pdb.getSpec().getSelector()).isEmpty()) {
        add("PodDisruptionBudget " + pdb.getMetadata().getName() + " selects no pod");
      }
    }
    for (HorizontalPodAutoscaler hpa : rendered.hpas()) {
      var ref = hpa.getSpec().getScaleTargetRef();
      if (!"Deployment".equals(ref.getKind()) || rendered.named(Deployment.class, ref.getName()).isEmpty()) {
        add("HorizontalPodAutoscaler " + hpa.getMetadata().getName() + " targets a missing " + ref.getKind() + " " + ref.getName());
      }
      if (hpa.getSpec().getMinReplicas() == null || hpa.getSpec().getMinReplicas() < 2) {
        add("HorizontalPodAutoscaler " + hpa.getMetadata().getName() + " may scale below 2 replicas");
      }
    }
    for (NetworkPolicy np : rendered.networkPolicies()) {
      checkNetworkPolicy(np);
    }
    Set<String> issuers = new java.util.HashSet<>();
    rendered.issuers().forEach(i -> issuers.add(i.metadata().getName()));
    for (var issuer : rendered.issuers()) {
      if (issuer.spec().ca() != null && certificateSecret(issuer.spec().ca().secretName()) == null) {
        add("Issuer " + issuer.metadata().getName() + " signs with Secret " + issuer.spec().ca().secretName()
            + ", which no Certificate fills");
      }
    }
    for (var cert : rendered.certificates()) {
      if (!issuers.contains(cert.spec().issuerRef().name())) {
        add("Certificate " + cert.metadata().getName() + " names a missing Issuer " + cert.spec().issuerRef().name());
      }
    }
    return problems;
  }

  private void checkDeployment(Deployment d) {
    String name = "Deployment " + d.getMetadata().getName();
    Map<String, String> labels = d.getSpec().getTemplate().getMetadata().getLabels();
    if (!matches(d.getSpec().getSelector(), labels)) {
      add(name + ": its selector does not match its pod template's labels");
    }
    PodSpec pod = d.getSpec().getTemplate().getSpec();
    Map<String, Volume> volumes = new HashMap<>();
    for (Volume v : pod.getVolumes()) {
      volumes.put(v.getName(), v);
      if (v.getConfigMap() != null) {
        ConfigMap cm = rendered.named(ConfigMap.class, v.getConfigMap().getName()).orElse(null);
        if (cm == null) {
          add(name + ": volume " + v.getName() + " mounts a missing ConfigMap " + v.getConfigMap().getName());
        } else {
          for (KeyToPath item : v.getConfigMap().getItems()) {
            if (!cm.getData().containsKey(item.getKey())) {
              add(name + ": volume " + v.getName() + " takes key " + item.getKey() + " that ConfigMap " + cm.getMetadata().getName() + " lacks");
            }
          }
        }
      }
      if (v.getSecret() != null) {
        Set<String> keys = secretKeys(v.getSecret().getSecretName());
        if (keys == null) {
          add(name + ": volume " + v.getName() + " mounts Secret " + v.getSecret().getSecretName()
              + ", which no Certificate fills and docs/deploy.md does not create");
        } else {
          for (KeyToPath item : v.getSecret().getItems()) {
            if (!keys.contains(item.getKey())) {
              add(name + ": volume " + v.getName() + " takes key " + item.getKey() + " that Secret " + v.getSecret().getSecretName() + " lacks");
            }
          }
        }
      }
    }
    for (Container c : containers(pod)) {
      String where = name + " container " + c.getName();
      for (VolumeMount m : c.getVolumeMounts()) {
        if (!volumes.containsKey(m.getName())) {
          add(where + " mounts a missing volume " + m.getName());
        }
        if (m.getSubPath() != null) {
          add(where + " mounts " + m.getName() + " with subPath, which kubelet never updates");
        }
      }
      for (EnvVar e : c.getEnv()) {
        if (e.getValueFrom() != null && e.getValueFrom().getSecretKeyRef() != null) {
          var ref = e.getValueFrom().getSecretKeyRef();
          Set<String> keys = secretKeys(ref.getName());
          if (keys == null || !keys.contains(ref.getKey())) {
            add(where + " env " + e.getName() + " reads key " + ref.getKey() + " of Secret " + ref.getName() + ", which does not exist");
          }
        }
      }
      for (Probe p : Stream.of(c.getReadinessProbe(), c.getLivenessProbe(), c.getStartupProbe()).filter(Objects::nonNull).toList()) {
        IntOrString port = p.getHttpGet() != null ? p.getHttpGet().getPort() : p.getTcpSocket() != null ? p.getTcpSocket().getPort() : null;
        if (port != null && !hasPort(List.of(c), port)) {
          add(where + ": a probe uses port " + text(port) + ", which the container does not declare");
        }
      }
    }
  }

  private void checkService(Service s) {
    String name = "Service " + s.getMetadata().getName();
    if ("ExternalName".equals(s.getSpec().getType())) {
      return;
    }
    Map<String, String> selector = s.getSpec().getSelector();
    List<PodSpec> pods = rendered.deployments().stream()
        .filter(d -> selector != null && !selector.isEmpty()
            && d.getSpec().getTemplate().getMetadata().getLabels().entrySet().containsAll(selector.entrySet()))
        .map(d -> d.getSpec().getTemplate().getSpec()).toList();
    if (pods.isEmpty()) {
      add(name + " selects no pod");
      return;
    }
    for (ServicePort port : s.getSpec().getPorts()) {
      IntOrString target = port.getTargetPort() != null ? port.getTargetPort() : new IntOrString(port.getPort());
      for (PodSpec pod : pods) {
        if (!hasPort(containers(pod), target)) {
          add(name + " port " + port.getName() + " targets " + text(target) + ", which a selected pod does not declare");
        }
      }
    }
  }

  private void checkNetworkPolicy(NetworkPolicy np) {
    String name = "NetworkPolicy " + np.getMetadata().getName();
    LabelSelector selector = np.getSpec().getPodSelector();
    boolean everyPod = selector.getMatchLabels() == null || selector.getMatchLabels().isEmpty();
    List<PodSpec> pods = podsSelectedBy(selector);
    if (!everyPod && pods.isEmpty()) {
      add(name + " applies to no pod");
    }
    for (NetworkPolicyIngressRule rule : np.getSpec().getIngress()) {
      for (NetworkPolicyPeer peer : rule.getFrom()) {
        if (peer.getPodSelector() != null && peer.getNamespaceSelector() == null && podsSelectedBy(peer.getPodSelector()).isEmpty()) {
          add(name + " admits pods labelled " + peer.getPodSelector().getMatchLabels() + ", and there are none");
        }
      }
      for (NetworkPolicyPort port : rule.getPorts()) {
        for (PodSpec pod : pods) {
          if (!hasPort(containers(pod), port.getPort())) {
            add(name + " opens port " + text(port.getPort()) + ", which a selected pod does not declare");
          }
        }
      }
    }
  }

  /** The keys of a Secret that a Certificate fills or the operator creates; null if neither. */
  Set<String> secretKeys(String secretName) {
    if (certificateSecret(secretName) != null) {
      return Set.copyOf(CertManager.SECRET_KEYS);
    }
    return operatorSecrets.get(secretName);
  }

  CertManager.Certificate certificateSecret(String secretName) {
    return rendered.certificates().stream().filter(c -> secretName.equals(c.spec().secretName())).findFirst().orElse(null);
  }

  List<PodSpec> podsSelectedBy(LabelSelector selector) {
    return rendered.deployments().stream()
        .filter(d -> matches(selector, d.getSpec().getTemplate().getMetadata().getLabels()))
        .map(d -> d.getSpec().getTemplate().getSpec()).toList();
  }

  static boolean matches(LabelSelector selector, Map<String, String> labels) {
    if (selector == null || selector.getMatchLabels() == null || selector.getMatchLabels().isEmpty()) {
      return false;
    }
    if (selector.getMatchExpressions() != null && !selector.getMatchExpressions().isEmpty()) {
      throw new IllegalArgumentException("matchExpressions are not checked here; use matchLabels");
    }
    return labels != null && labels.entrySet().containsAll(selector.getMatchLabels().entrySet());
  }

  /** Regular and init containers (native sidecars are init containers). */
  static List<Container> containers(PodSpec pod) {
    return Stream.concat(pod.getInitContainers().stream(), pod.getContainers().stream()).toList();
  }

  static boolean hasPort(List<Container> containers, IntOrString port) {
    for (Container c : containers) {
      for (ContainerPort p : c.getPorts()) {
        if (port.getStrVal() != null ? port.getStrVal().equals(p.getName()) : port.getIntVal().equals(p.getContainerPort())) {
          return true;
        }
      }
    }
    return false;
  }

  static String text(IntOrString port) {
    return port.getStrVal() != null ? port.getStrVal() : String.valueOf(port.getIntVal());
  }

  void add(String problem) {
    problems.add(rendered.topology() + ": " + problem);
  }
}
