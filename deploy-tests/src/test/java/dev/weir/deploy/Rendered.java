package dev.weir.deploy;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import java.util.List;
import java.util.Optional;

/** One topology's rendered objects, read strictly, with lookups by kind and name. */
record Rendered(String topology, List<Object> objects) {
  static Rendered of(String topology, String yaml) {
    return new Rendered(topology, StrictKubernetes.readAll(yaml));
  }

  <T> List<T> all(Class<T> type) {
    return objects.stream().filter(type::isInstance).map(type::cast).toList();
  }

  List<Deployment> deployments() {
    return all(Deployment.class);
  }

  List<Service> services() {
    return all(Service.class);
  }

  List<ConfigMap> configMaps() {
    return all(ConfigMap.class);
  }

  List<PodDisruptionBudget> pdbs() {
    return all(PodDisruptionBudget.class);
  }

  List<HorizontalPodAutoscaler> hpas() {
    return all(HorizontalPodAutoscaler.class);
  }

  List<NetworkPolicy> networkPolicies() {
    return all(NetworkPolicy.class);
  }

  List<CertManager.Certificate> certificates() {
    return all(CertManager.Certificate.class);
  }

  List<CertManager.Issuer> issuers() {
    return all(CertManager.Issuer.class);
  }

  <T extends HasMetadata> Optional<T> named(Class<T> type, String name) {
    return all(type).stream().filter(o -> o.getMetadata().getName().equals(name)).findFirst();
  }

  Deployment deployment(String name) {
    return named(Deployment.class, name).orElseThrow(() -> new AssertionError(topology + ": no Deployment " + name));
  }

  /** The ConfigMap a generator named {@code prefix} made (kustomize may append a content hash). */
  ConfigMap generatedConfigMap(String prefix) {
    return configMaps().stream()
        .filter(c -> c.getMetadata().getName().equals(prefix) || c.getMetadata().getName().matches(prefix + "-[a-z0-9]{10}"))
        .findFirst().orElseThrow(() -> new AssertionError(topology + ": no ConfigMap " + prefix));
  }
}
