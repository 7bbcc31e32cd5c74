package dev.weir.extproc.backendauth;

import com.fasterxml.jackson.databind.JsonNode;
import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JOSEObjectType;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.RSASSASigner;
import com.nimbusds.jose.util.Base64URL;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import dev.weir.config.Credentials;
import dev.weir.config.EntraCredentials;
import dev.weir.config.v1.EntraCredential;
import dev.weir.extproc.openai.Json;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Date;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Entra ID access tokens for one Azure OpenAI backend, from a client secret, a client certificate
 * (a signed client assertion), a federated token file (AKS workload identity) or the host's managed
 * identity (IMDS), over plain OAuth2 on {@code java.net.http}.
 *
 * <p>Tokens are cached and fetched again on a virtual thread once they are within five minutes (or
 * half their life) of expiry, while requests keep using the cached one; a request waits (bounded)
 * only when no unexpired token is cached. Tokens and secrets are never logged or put in messages.
 */
public final class EntraTokens {
  private static final Logger log = LoggerFactory.getLogger(EntraTokens.class);
  private static final ExecutorService FETCH = Executors.newVirtualThreadPerTaskExecutor();
  private static final Duration REFRESH_MARGIN = Duration.ofMinutes(5);
  /** A token this close to expiry is not sent: it could expire on the way. */
  private static final Duration EXPIRY_GUARD = Duration.ofSeconds(30);
  /** After a failed fetch, requests fail fast for this long instead of each starting one. */
  private static final Duration FAILURE_BACKOFF = Duration.ofSeconds(2);
  private static final Duration WAIT = Duration.ofSeconds(5);
  private static final String ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

  /** A cached token and when it must be fetched again. */
  record Token(String value, Instant expiresAt, Instant refreshAt) {
    @Override
    public String toString() {
      return "Token[expiresAt=" + expiresAt + "]";
    }
  }

  /** No token could be had; the message names the backend and why, never a secret. */
  public static final class UnavailableException extends Exception {
    private static final long serialVersionUID = 1L;

    UnavailableException(String message) {
      super(message);
    }
  }

  private final String backend;
  private final EntraCredential credential;
  private final EntraCredentials.Method method;
  private final Function<String, String> env;
  private final HttpClient http;
  private final Clock clock;
  private volatile Token current;
  private volatile String lastFailure;
  private volatile Instant lastFailureAt = Instant.MIN;
  private CompletableFuture<Token> inFlight;

  public EntraTokens(String backend, EntraCredential credential, Function<String, String> env, HttpClient http,
      Clock clock) {
    this.backend = backend;
    this.credential = credential;
    this.method = EntraCredentials.method(credential);
    this.env = env;
    this.http = http;
    this.clock = clock;
  }

  public static EntraTokens of(String backend, EntraCredential credential, Function<String, String> env) {
    return new EntraTokens(backend, credential, env,
        HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build(), Clock.systemUTC());
  }

  /** Starts fetching the first token, so the first request finds it cached. */
  public void warmUp() {
    refresh();
  }

  /** A token valid for at least the next 30 seconds. */
  public String token() throws UnavailableException {
    Instant now = clock.instant();
    Token t = current;
    if (t != null && now.isBefore(t.refreshAt())) {
      return t.value();
    }
    boolean usable = t != null && now.isBefore(t.expiresAt().minus(EXPIRY_GUARD));
    boolean backingOff = now.isBefore(lastFailureAt.plus(FAILURE_BACKOFF));
    if (usable) {
      if (!backingOff) {
        refresh();
      }
      return t.value();
    }
    if (backingOff && !refreshing()) {
      throw unavailable(lastFailure);
    }
    CompletableFuture<Token> refresh = refresh();
    try {
      return refresh.get(WAIT.toMillis(), TimeUnit.MILLISECONDS).value();
    } catch (ExecutionException e) {
      throw unavailable(e.getCause().getMessage());
    } catch (TimeoutException e) {
      throw unavailable("the token endpoint did not answer within " + WAIT.toSeconds() + "s");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw unavailable("interrupted");
    }
  }

  private UnavailableException unavailable(String why) {
    return new UnavailableException("no Entra ID access token for backend \"" + backend + "\" ("
        + method.name().toLowerCase(java.util.Locale.ROOT) + "): " + why);
  }

  private synchronized boolean refreshing() {
    return inFlight != null && !inFlight.isDone();
  }

  /** The fetch under way, or a new one: one at a time per backend. */
  private synchronized CompletableFuture<Token> refresh() {
    if (inFlight != null && !inFlight.isDone()) {
      return inFlight;
    }
    CompletableFuture<Token> f = CompletableFuture.supplyAsync(() -> {
      try {
        Token t = fetch();
        current = t;
        return t;
      } catch (IOException | RuntimeException e) {
        lastFailure = e.getMessage();
        lastFailureAt = clock.instant();
        log.warn("Entra ID token for backend \"{}\" not refreshed: {}", backend, e.getMessage());
        throw new java.util.concurrent.CompletionException(e);
      }
    }, FETCH);
    inFlight = f;
    return f;
  }

  private Token fetch() throws IOException {
    HttpRequest request = switch (method) {
      case MANAGED_IDENTITY -> imdsRequest();
      case CLIENT_SECRET -> tokenRequest(Map.of("client_secret", secret()));
      case CERTIFICATE -> tokenRequest(Map.of("client_assertion_type", ASSERTION_TYPE,
          "client_assertion", certificateAssertion()));
      case FEDERATED_TOKEN_FILE -> tokenRequest(Map.of("client_assertion_type", ASSERTION_TYPE,
          "client_assertion", readFile(credential.getFederatedTokenFile())));
    };
    HttpResponse<String> response;
    try {
      response = http.send(request, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    }
    JsonNode body;
    try {
      body = Json.MAPPER.readTree(response.body());
    } catch (IOException e) {
      body = Json.MAPPER.createObjectNode();
    }
    if (response.statusCode() != 200) {
      // Entra's error JSON ({error, error_description}) says why and holds no secret.
      String why = body.path("error").asText("");
      String description = body.path("error_description").asText("");
      throw new IOException(request.uri().getHost() + " answered " + response.statusCode()
          + (why.isEmpty() ? "" : ": " + why) + (description.isEmpty() ? "" : " (" + firstLine(description) + ")"));
    }
    String token = body.path("access_token").asText("");
    if (token.isEmpty()) {
      throw new IOException(request.uri().getHost() + " answered without an access_token");
    }
    Instant now = clock.instant();
    Instant expiresAt;
    // IMDS sends expires_in and expires_on as strings; the v2.0 token endpoint sends a number.
    if (body.hasNonNull("expires_in")) {
      expiresAt = now.plusSeconds(Long.parseLong(body.get("expires_in").asText().strip()));
    } else if (body.hasNonNull("expires_on")) {
      expiresAt = Instant.ofEpochSecond(Long.parseLong(body.get("expires_on").asText().strip()));
    } else {
      throw new IOException(request.uri().getHost() + " answered without expires_in");
    }
    Duration life = Duration.between(now, expiresAt);
    Duration margin = life.dividedBy(2).compareTo(REFRESH_MARGIN) < 0 ? life.dividedBy(2) : REFRESH_MARGIN;
    log.info("Entra ID token for backend \"{}\" fetched; valid until {}", backend, expiresAt);
    return new Token(token, expiresAt, expiresAt.minus(margin));
  }

  /**
   * IMDS: {@code GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=...} with
   * {@code Metadata: true} (https://learn.microsoft.com/entra/identity/managed-identities-azure-resources/how-to-use-vm-token).
   */
  private HttpRequest imdsRequest() {
    String scope = credential.getScope();
    String resource = scope.endsWith("/.default") ? scope.substring(0, scope.length() - "/.default".length()) : scope;
    String clientId = credential.getManagedIdentity().getClientId();
    String uri = credential.getManagedIdentity().getEndpoint() + "?api-version=2018-02-01&resource="
        + enc(resource) + (clientId.isEmpty() ? "" : "&client_id=" + enc(clientId));
    return HttpRequest.newBuilder(URI.create(uri)).timeout(WAIT).header("Metadata", "true").GET().build();
  }

  /**
   * The v2.0 client-credentials grant
   * (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow).
   */
  private HttpRequest tokenRequest(Map<String, String> clientAuth) {
    Map<String, String> form = new LinkedHashMap<>();
    form.put("grant_type", "client_credentials");
    form.put("client_id", credential.getClientId());
    form.put("scope", credential.getScope());
    form.putAll(clientAuth);
    String body = form.entrySet().stream().map(e -> enc(e.getKey()) + "=" + enc(e.getValue()))
        .collect(Collectors.joining("&"));
    return HttpRequest.newBuilder(URI.create(tokenEndpoint())).timeout(WAIT)
        .header("content-type", "application/x-www-form-urlencoded")
        .POST(HttpRequest.BodyPublishers.ofString(body)).build();
  }

  String tokenEndpoint() {
    String host = credential.getAuthorityHost();
    return (host.endsWith("/") ? host : host + "/") + enc(credential.getTenantId()) + "/oauth2/v2.0/token";
  }

  private String secret() throws IOException {
    try {
      return EntraCredentials.secret(credential.getClientSecret(), env);
    } catch (Credentials.UnresolvableCredentialException e) {
      throw new IOException(e.getMessage());
    }
  }

  private String readFile(String file) throws IOException {
    try {
      return EntraCredentials.read(file);
    } catch (Credentials.UnresolvableCredentialException e) {
      throw new IOException(e.getMessage());
    }
  }

  /**
   * A client assertion signed with the certificate's key: RS256 with the certificate's SHA-1
   * thumbprint in {@code x5t}, audience the token endpoint
   * (https://learn.microsoft.com/entra/identity-platform/certificate-credentials).
   */
  private String certificateAssertion() throws IOException {
    String pem = readFile(credential.getCertificate().getFile());
    try {
      X509Certificate cert = (X509Certificate) CertificateFactory.getInstance("X.509")
          .generateCertificate(new ByteArrayInputStream(pemBlock(pem, "CERTIFICATE")));
      PrivateKey key = KeyFactory.getInstance("RSA").generatePrivate(new PKCS8EncodedKeySpec(pemBlock(pem, "PRIVATE KEY")));
      Instant now = clock.instant();
      JWTClaimsSet claims = new JWTClaimsSet.Builder()
          .audience(tokenEndpoint()).issuer(credential.getClientId()).subject(credential.getClientId())
          .jwtID(UUID.randomUUID().toString()).issueTime(Date.from(now)).notBeforeTime(Date.from(now))
          .expirationTime(Date.from(now.plus(Duration.ofMinutes(10)))).build();
      JWSHeader header = new JWSHeader.Builder(JWSAlgorithm.RS256).type(JOSEObjectType.JWT)
          .x509CertThumbprint(Base64URL.encode(MessageDigest.getInstance("SHA-1").digest(cert.getEncoded())))
          .build();
      SignedJWT jwt = new SignedJWT(header, claims);
      jwt.sign(new RSASSASigner(key));
      return jwt.serialize();
    } catch (GeneralSecurityException | JOSEException | IllegalArgumentException e) {
      throw new IOException("the certificate file " + credential.getCertificate().getFile() + " does not hold an X.509"
          + " certificate and an unencrypted PKCS#8 RSA private key (" + e.getClass().getSimpleName() + ")");
    }
  }

  private static byte[] pemBlock(String pem, String type) {
    String begin = "-----BEGIN " + type + "-----";
    int start = pem.indexOf(begin);
    int end = pem.indexOf("-----END " + type + "-----");
    if (start < 0 || end < start) {
      throw new IllegalArgumentException("no " + type + " block");
    }
    return Base64.getMimeDecoder().decode(pem.substring(start + begin.length(), end));
  }

  private static String firstLine(String s) {
    String line = s.lines().findFirst().orElse("");
    return line.length() > 200 ? line.substring(0, 200) : line;
  }

  private static String enc(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8);
  }
}
