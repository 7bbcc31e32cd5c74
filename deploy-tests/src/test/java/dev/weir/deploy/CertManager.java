package dev.weir.deploy;

import com.fasterxml.jackson.annotation.JsonProperty;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import java.util.List;
import java.util.Map;

/**
 * cert-manager's {@code cert-manager.io/v1} Certificate and Issuer, as records holding the fields
 * of its API reference (https://cert-manager.io/docs/reference/api-docs/) that a manifest of ours
 * may set. Read strictly: a field not listed here fails, so a misspelling cannot pass silently.
 */
final class CertManager {
  private CertManager() {}

  /** A Certificate: cert-manager keeps a Secret named secretName filled with tls.crt, tls.key, ca.crt. */
  record Certificate(String apiVersion, String kind, ObjectMeta metadata, CertificateSpec spec) {}

  /** The Certificate spec fields we use. */
  record CertificateSpec(String secretName, String commonName, List<String> dnsNames, List<String> uris,
      List<String> ipAddresses, List<String> usages, Boolean isCA, String duration, String renewBefore,
      PrivateKey privateKey, IssuerRef issuerRef) {}

  /** How the key is made and stored; Weir reads PKCS#8 keys only. */
  record PrivateKey(String algorithm, Integer size, String encoding, String rotationPolicy) {}

  /** The issuer that signs a Certificate. */
  record IssuerRef(String name, String kind, String group) {}

  /** An Issuer: self-signed, or a CA whose key pair is in a Secret. */
  record Issuer(String apiVersion, String kind, ObjectMeta metadata, IssuerSpec spec) {}

  /** Exactly one of selfSigned or ca. */
  record IssuerSpec(Map<String, Object> selfSigned, CaIssuer ca) {}

  /** A CA issuer: signs with the key pair in secretName. */
  record CaIssuer(@JsonProperty(required = true) String secretName) {}

  /** The keys cert-manager writes into a Certificate's Secret. */
  static final List<String> SECRET_KEYS = List.of("tls.crt", "tls.key", "ca.crt");
}
