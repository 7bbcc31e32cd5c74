package dev.weir.extproc.routing;

import dev.weir.config.v1.AwsCredentials;
import dev.weir.config.v1.Backend;
import dev.weir.config.v1.Provider;
import dev.weir.extproc.backendauth.EntraTokens;
import java.net.URI;

/**
 * A backend as the upstream pass needs it: provider, base path, Azure api-version and the resolved
 * credential (or, for Bedrock, the region and where its AWS credentials come from; for Azure OpenAI
 * with Entra ID, its token source).
 * {@link #toString()} never shows the credential.
 */
public record BackendTarget(String name, Provider provider, URI url, String apiVersion, String credential,
    int defaultMaxTokens, String region, AwsCredentials aws, Backend config, EntraTokens entra) {

  /** From the config entry, with its resolved key (null for none) or its Entra token source. */
  public static BackendTarget of(Backend b, String credential, EntraTokens entra) {
    return new BackendTarget(b.getName(), b.getProvider(), URI.create(b.getUrl()), b.getApiVersion(), credential,
        b.getDefaultMaxTokens(), b.getRegion(), b.getAws(), b, entra);
  }

  public BackendTarget(String name, Provider provider, URI url, String apiVersion, String credential,
      int defaultMaxTokens, String region, AwsCredentials aws) {
    this(name, provider, url, apiVersion, credential, defaultMaxTokens, region, aws, Backend.getDefaultInstance(),
        null);
  }

  public BackendTarget(String name, Provider provider, URI url, String apiVersion, String credential) {
    this(name, provider, url, apiVersion, credential, 0);
  }

  public BackendTarget(String name, Provider provider, URI url, String apiVersion, String credential,
      int defaultMaxTokens) {
    this(name, provider, url, apiVersion, credential, defaultMaxTokens, "", AwsCredentials.getDefaultInstance());
  }

  /**
   * Client headers this backend may receive although the gateway strips them by default
   * (lower-cased).
   */
  public java.util.Set<String> forwardedClientHeaders() {
    return config.getForwardClientHeadersList().stream()
        .map(h -> h.toLowerCase(java.util.Locale.ROOT)).collect(java.util.stream.Collectors.toSet());
  }

  /** The URL's path without a trailing slash ("" for none): prefixed to every upstream path. */
  public String basePath() {
    String path = url.getRawPath();
    if (path == null || path.equals("/")) {
      return "";
    }
    return path.endsWith("/") ? path.substring(0, path.length() - 1) : path;
  }

  @Override
  public String toString() {
    return "BackendTarget[" + name + ", " + provider + ", " + url + "]";
  }
}
