package dev.weir.config;

import dev.weir.config.v1.EntraCredential;
import dev.weir.config.v1.SecretSource;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.BiConsumer;
import java.util.function.Function;

/** Checks an Entra ID backend credential and reads its client secret; the secret is never put in a message. */
public final class EntraCredentials {
  private EntraCredentials() {}

  /** Which of the four ways to get a token the credential chose. */
  public enum Method { CLIENT_SECRET, CERTIFICATE, FEDERATED_TOKEN_FILE, MANAGED_IDENTITY }

  /** The chosen method, or null when none or several are set. */
  public static Method method(EntraCredential c) {
    int count = 0;
    Method m = null;
    if (c.hasClientSecret()) { count++; m = Method.CLIENT_SECRET; }
    if (c.hasCertificate()) { count++; m = Method.CERTIFICATE; }
    if (!c.getFederatedTokenFile().isEmpty()) { count++; m = Method.FEDERATED_TOKEN_FILE; }
    if (c.hasManagedIdentity()) { count++; m = Method.MANAGED_IDENTITY; }
    return count == 1 ? m : null;
  }

  static void resolvePaths(EntraCredential.Builder c, Path baseDir) {
    if (!c.getClientSecret().getFile().isEmpty()) {
      c.getClientSecretBuilder().setFile(baseDir.resolve(c.getClientSecret().getFile()).normalize().toString());
    }
    if (!c.getCertificate().getFile().isEmpty()) {
      c.getCertificateBuilder().setFile(baseDir.resolve(c.getCertificate().getFile()).normalize().toString());
    }
    if (!c.getFederatedTokenFile().isEmpty()) {
      c.setFederatedTokenFile(baseDir.resolve(c.getFederatedTokenFile()).normalize().toString());
    }
  }

  static void check(String path, EntraCredential c, Function<String, String> env, boolean checkSources,
      BiConsumer<String, String> problem) {
    Method method = method(c);
    if (method == null) {
      problem.accept(path, "set exactly one of clientSecret, certificate, federatedTokenFile or managedIdentity");
      return;
    }
    if (method != Method.MANAGED_IDENTITY) {
      if (c.getTenantId().isBlank()) problem.accept(path + ".tenantId", "is required");
      if (c.getClientId().isBlank()) problem.accept(path + ".clientId", "is required");
    } else if (!c.getTenantId().isEmpty() || !c.getClientId().isEmpty()) {
      problem.accept(path, "a managed identity needs no tenantId or clientId (a user-assigned one takes"
          + " managedIdentity.clientId)");
    }
    checkUrl(path + ".authorityHost", c.getAuthorityHost(), problem);
    if (method == Method.MANAGED_IDENTITY) {
      checkUrl(path + ".managedIdentity.endpoint", c.getManagedIdentity().getEndpoint(), problem);
    }
    if (!c.getScope().endsWith("/.default")) {
      problem.accept(path + ".scope", "must end in \"/.default\" (client-credential tokens carry the app's"
          + " granted permissions), found \"" + c.getScope() + "\"");
    }
    if (method == Method.CLIENT_SECRET && c.getClientSecret().getSourceCase() == SecretSource.SourceCase.SOURCE_NOT_SET) {
      problem.accept(path + ".clientSecret", "set { env: VAR } or { file: path }");
      return;
    }
    if (method == Method.CERTIFICATE && c.getCertificate().getFile().isEmpty()) {
      problem.accept(path + ".certificate.file", "is required");
      return;
    }
    if (!checkSources) {
      return;
    }
    try {
      switch (method) {
        case CLIENT_SECRET -> secret(c.getClientSecret(), env);
        case CERTIFICATE -> readable(c.getCertificate().getFile());
        case FEDERATED_TOKEN_FILE -> readable(c.getFederatedTokenFile());
        case MANAGED_IDENTITY -> { }
      }
    } catch (Credentials.UnresolvableCredentialException e) {
      problem.accept(path, e.getMessage());
    }
  }

  /** The client secret from its environment variable or file. */
  public static String secret(SecretSource source, Function<String, String> env)
      throws Credentials.UnresolvableCredentialException {
    return switch (source.getSourceCase()) {
      case ENV -> Credentials.resolve(dev.weir.config.v1.Credential.newBuilder().setEnv(source.getEnv()).build(), env);
      case FILE -> Credentials.resolve(dev.weir.config.v1.Credential.newBuilder().setFile(source.getFile()).build(), env);
      default -> throw new Credentials.UnresolvableCredentialException("set { env: VAR } or { file: path }");
    };
  }

  /** A file's text (a certificate, a federated token), or why it cannot be read. */
  public static String read(String file) throws Credentials.UnresolvableCredentialException {
    try {
      String text = Files.readString(Path.of(file), StandardCharsets.UTF_8).strip();
      if (text.isEmpty()) {
        throw new Credentials.UnresolvableCredentialException("file " + file + " is empty");
      }
      return text;
    } catch (IOException e) {
      throw new Credentials.UnresolvableCredentialException(
          "cannot read " + file + " (" + e.getClass().getSimpleName() + ")");
    }
  }

  private static void readable(String file) throws Credentials.UnresolvableCredentialException {
    read(file);
  }

  private static void checkUrl(String path, String url, BiConsumer<String, String> problem) {
    try {
      URI uri = new URI(url);
      if (!("https".equals(uri.getScheme()) || "http".equals(uri.getScheme())) || uri.getHost() == null) {
        problem.accept(path, "must be an http:// or https:// URL, found \"" + url + "\"");
      }
    } catch (URISyntaxException e) {
      problem.accept(path, "not a URL: " + e.getMessage());
    }
  }
}
