package dev.weir.deploy;

import com.fasterxml.jackson.databind.BeanDescription;
import com.fasterxml.jackson.databind.DeserializationConfig;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.deser.BeanDeserializerBuilder;
import com.fasterxml.jackson.databind.deser.BeanDeserializerModifier;
import com.fasterxml.jackson.databind.module.SimpleModule;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

/**
 * Reads Kubernetes YAML into fabric8's model types as strictly as the API server's schema check:
 * fabric8's classes keep unknown fields in an {@code additionalProperties} map, so that catch-all
 * is removed here and an unknown or misspelled field fails with its path. cert-manager's kinds
 * are read into {@link CertManager}'s records, equally strictly.
 */
final class StrictKubernetes {
  /** apiVersion/kind of every object our manifests may contain, and the type that reads it. */
  static final Map<String, Class<?>> KINDS = Map.ofEntries(
      Map.entry("v1/Namespace", Namespace.class),
      Map.entry("v1/ServiceAccount", ServiceAccount.class),
      Map.entry("v1/ConfigMap", ConfigMap.class),
      Map.entry("v1/Secret", Secret.class),
      Map.entry("v1/Service", Service.class),
      Map.entry("apps/v1/Deployment", Deployment.class),
      Map.entry("policy/v1/PodDisruptionBudget", PodDisruptionBudget.class),
      Map.entry("autoscaling/v2/HorizontalPodAutoscaler", HorizontalPodAutoscaler.class),
      Map.entry("networking.k8s.io/v1/NetworkPolicy", NetworkPolicy.class),
      Map.entry("cert-manager.io/v1/Certificate", CertManager.Certificate.class),
      Map.entry("cert-manager.io/v1/Issuer", CertManager.Issuer.class));

  private static final ObjectMapper MAPPER = new ObjectMapper()
      .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
      .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
      .enable(DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY)
      .registerModule(new SimpleModule("strict-kubernetes").setDeserializerModifier(new BeanDeserializerModifier() {
        @Override
        public BeanDeserializerBuilder updateBuilder(DeserializationConfig config, BeanDescription bean,
            BeanDeserializerBuilder builder) {
          builder.setAnySetter(null);
          builder.setIgnoreUnknownProperties(false);
          return builder;
        }
      }));

  private StrictKubernetes() {}

  /** Raised for a document that is not a known kind or has a field its type does not know. */
  static final class InvalidManifestException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    InvalidManifestException(String message, Throwable cause) {
      super(message, cause);
    }
  }

  /** Every YAML document of a multi-document stream, as plain maps (empty documents dropped). */
  @SuppressWarnings("unchecked")
  static List<Map<String, Object>> documents(String yaml) {
    LoaderOptions options = new LoaderOptions();
    options.setAllowDuplicateKeys(false);
    List<Map<String, Object>> docs = new ArrayList<>();
    for (Object doc : new Yaml(new SafeConstructor(options)).loadAll(yaml)) {
      if (doc != null) {
        docs.add((Map<String, Object>) doc);
      }
    }
    return docs;
  }

  /** Reads one document into its model type; throws naming the object and the bad field. */
  static Object read(Map<String, Object> doc) {
    String key = doc.get("apiVersion") + "/" + doc.get("kind");
    Class<?> type = KINDS.get(key);
    String name = doc.get("metadata") instanceof Map<?, ?> m ? String.valueOf(m.get("name")) : "?";
    if (type == null) {
      throw new InvalidManifestException(key + " " + name + ": not a kind these manifests may use", null);
    }
    try {
      return MAPPER.convertValue(doc, type);
    } catch (IllegalArgumentException e) {
      throw new InvalidManifestException(key + " " + name + ": " + e.getMessage(), e);
    }
  }

  /** Reads every document of a stream. */
  static List<Object> readAll(String yaml) {
    return documents(yaml).stream().map(StrictKubernetes::read).toList();
  }
}
