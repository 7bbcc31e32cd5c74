package dev.weir.extproc.providers;

import dev.weir.config.v1.AwsCredentials;
import java.io.ByteArrayInputStream;
import java.net.URI;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.auth.credentials.EnvironmentVariableCredentialsProvider;
import software.amazon.awssdk.auth.credentials.ProfileCredentialsProvider;
import software.amazon.awssdk.auth.credentials.WebIdentityTokenFileCredentialsProvider;
import software.amazon.awssdk.http.SdkHttpMethod;
import software.amazon.awssdk.http.SdkHttpRequest;
import software.amazon.awssdk.http.auth.aws.signer.AwsV4HttpSigner;
import software.amazon.awssdk.http.auth.spi.signer.SignedRequest;
import software.amazon.awssdk.profiles.ProfileFile;

/**
 * AWS Signature V4 for requests whose body is final, with the AWS SDK's signer and credential
 * providers (never our own crypto). One provider per credential source, shared by every backend
 * and config version that names it, so the SDK's cached and refreshed credentials survive reloads.
 * Credentials are never logged or put in a message.
 *
 * <p>The first resolution of refreshable credentials (web identity, container, instance) calls out
 * and blocks the gRPC server's virtual thread once; later refreshes run on the SDK's background
 * thread ({@code asyncCredentialUpdateEnabled}), so requests are not held while STS answers.
 */
final class AwsSigning {
  /** The headers a signature adds; nothing else from the signed copy is sent. */
  private static final String[] SIGNATURE_HEADERS =
      {"authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"};

  private final AwsV4HttpSigner signer = AwsV4HttpSigner.create();
  private final Map<AwsCredentials, AwsCredentialsProvider> providers = new ConcurrentHashMap<>();

  /**
   * The signature headers for a POST of {@code body} to {@code encodedPath} on {@code url}'s host.
   * The signed {@code host} is the URL's host name alone, without a port: what Envoy sends, since
   * the routes set {@code auto_host_rewrite} and xds-control-plane gives every endpoint the URL's
   * host as its {@code hostname}; Envoy's router puts {@code host->hostname()} in
   * {@code :authority} ({@code Http::Utility::updateAuthority} in
   * {@code UpstreamRequest::onPoolReady}, source/common/router/upstream_request.cc), with no port,
   * whatever port the endpoint listens on.
   */
  Map<String, String> sign(URI url, String encodedPath, byte[] body, String service, String region,
      AwsCredentials source) {
    SdkHttpRequest request = SdkHttpRequest.builder()
        .method(SdkHttpMethod.POST)
        .protocol(url.getScheme())
        .host(url.getHost())
        .port(null)
        .encodedPath(encodedPath)
        .build();
    var credentials = provider(source).resolveCredentials();
    SignedRequest signed = signer.sign(r -> r.identity(credentials)
        .request(request)
        .payload(() -> new ByteArrayInputStream(body))
        .putProperty(AwsV4HttpSigner.SERVICE_SIGNING_NAME, service)
        .putProperty(AwsV4HttpSigner.REGION_NAME, region));
    Map<String, String> headers = new LinkedHashMap<>();
    for (String name : SIGNATURE_HEADERS) {
      signed.request().firstMatchingHeader(name).ifPresent(v -> headers.put(name, v));
    }
    return headers;
  }

  /** The SDK provider for a credential source, built once per distinct source. */
  AwsCredentialsProvider provider(AwsCredentials source) {
    return providers.computeIfAbsent(source, AwsSigning::newProvider);
  }

  static AwsCredentialsProvider newProvider(AwsCredentials c) {
    if (c.getEnv()) {
      return EnvironmentVariableCredentialsProvider.create();
    }
    if (!c.getWebIdentityTokenFile().isEmpty()) {
      var b = WebIdentityTokenFileCredentialsProvider.builder()
          .webIdentityTokenFile(Path.of(c.getWebIdentityTokenFile()))
          .roleArn(c.getRoleArn())
          .asyncCredentialUpdateEnabled(true);
      if (!c.getRoleSessionName().isEmpty()) {
        b.roleSessionName(c.getRoleSessionName());
      }
      return b.build();
    }
    if (!c.getProfileFile().isEmpty()) {
      ProfileFile file = ProfileFile.builder().content(Path.of(c.getProfileFile()))
          .type(ProfileFile.Type.CREDENTIALS).build();
      return ProfileCredentialsProvider.builder().profileFile(file)
          .profileName(c.getProfile().isEmpty() ? "default" : c.getProfile()).build();
    }
    if (!c.getProfile().isEmpty()) {
      return ProfileCredentialsProvider.builder().profileName(c.getProfile()).build();
    }
    return DefaultCredentialsProvider.builder().asyncCredentialUpdateEnabled(true).build();
  }

  /** A name for logs: the kind of source, never a value. */
  static String describe(AwsCredentials c) {
    return c.getEnv() ? "env" : !c.getWebIdentityTokenFile().isEmpty() ? "web identity"
        : !c.getProfile().isEmpty() || !c.getProfileFile().isEmpty() ? "profile" : "default chain";
  }
}
