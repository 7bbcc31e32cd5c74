package dev.weir.extproc.identity;

import com.fasterxml.jackson.databind.JsonNode;
import com.nimbusds.jose.KeySourceException;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.source.JWKSetCacheRefreshEvaluator;
import com.nimbusds.jose.jwk.source.JWKSetSource;
import com.nimbusds.jose.jwk.source.JWKSetUnavailableException;
import com.nimbusds.jose.proc.SecurityContext;
import dev.weir.config.v1.IdentityProvider;
import dev.weir.extproc.openai.Json;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.text.ParseException;
import java.time.Duration;

/**
 * Fetches an identity provider's signing keys over HTTP: from {@code jwksUri}, or from the
 * {@code jwks_uri} of its OpenID discovery document (looked up on every fetch, since providers
 * may move their keys). Caching, rate limiting and refresh-ahead are nimbus's
 * {@code JWKSourceBuilder} layers around it (see {@link IdentityProviders}).
 */
final class JwksFetcher implements JWKSetSource<SecurityContext> {
  private final IdentityProvider provider;
  private final HttpClient http;
  private final Duration timeout;

  JwksFetcher(IdentityProvider provider, HttpClient http) {
    this.provider = provider;
    this.http = http;
    this.timeout = Duration.ofMillis(provider.getJwksWaitMillis());
  }

  @Override
  public JWKSet getJWKSet(JWKSetCacheRefreshEvaluator refreshEvaluator, long currentTime, SecurityContext context)
      throws KeySourceException {
    String uri = provider.getJwksUri().isEmpty() ? discoverJwksUri() : provider.getJwksUri();
    try {
      return JWKSet.parse(get(uri));
    } catch (ParseException e) {
      throw new JWKSetUnavailableException("the JWKS at " + uri + " is not a JSON Web Key Set: " + e.getMessage(), e);
    }
  }

  private String discoverJwksUri() throws KeySourceException {
    String discovery = provider.getDiscoveryUri().isEmpty()
        ? stripSlash(provider.getIssuer()) + "/.well-known/openid-configuration"
        : provider.getDiscoveryUri();
    JsonNode doc;
    try {
      doc = Json.MAPPER.readTree(get(discovery));
    } catch (IOException e) {
      throw new JWKSetUnavailableException("the discovery document at " + discovery + " is not JSON", e);
    }
    String jwks = doc.path("jwks_uri").asText("");
    if (jwks.isEmpty()) {
      throw new JWKSetUnavailableException("the discovery document at " + discovery + " has no jwks_uri", null);
    }
    return jwks;
  }

  private String get(String uri) throws KeySourceException {
    try {
      HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create(uri)).timeout(timeout)
          .header("accept", "application/json").GET().build(),
          HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
      if (response.statusCode() != 200) {
        throw new JWKSetUnavailableException("GET " + uri + " answered " + response.statusCode(), null);
      }
      return response.body();
    } catch (IOException e) {
      throw new JWKSetUnavailableException("GET " + uri + " failed: " + e.getClass().getSimpleName(), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new JWKSetUnavailableException("interrupted while fetching " + uri, e);
    }
  }

  private static String stripSlash(String s) {
    return s.endsWith("/") ? s.substring(0, s.length() - 1) : s;
  }

  @Override
  public void close() {}
}
