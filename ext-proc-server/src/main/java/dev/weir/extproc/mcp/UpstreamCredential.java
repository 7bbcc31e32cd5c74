package dev.weir.extproc.mcp;

import com.fasterxml.jackson.databind.JsonNode;
import dev.weir.config.Credentials;
import dev.weir.config.EntraCredentials;
import dev.weir.config.v1.ClientCredentials;
import dev.weir.config.v1.McpCredential;
import dev.weir.extproc.openai.Json;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.function.Function;

/**
 * The header value an MCP server gets instead of the client's credential: a static key, or an
 * access token from the client credentials grant, cached until a minute before it expires and
 * fetched again then (one fetch at a time; callers during a fetch wait for it). Fetching blocks
 * the calling gRPC thread (grpc-java's default executor, not the event loop) for at most 10 s.
 */
public final class UpstreamCredential {
  private static final Duration EARLY = Duration.ofSeconds(60);

  /** The credential is configured but cannot be had right now (token endpoint down or refusing). */
  public static final class Unavailable extends Exception {
    private static final long serialVersionUID = 1L;

    Unavailable(String message) {
      super(message);
    }
  }

  private final String header;
  private final String staticValue;
  private final ClientCredentials grant;
  private final String clientSecret;
  private final HttpClient http;
  private final Clock clock;
  private String token;
  private Instant refreshAt = Instant.MIN;

  UpstreamCredential(McpCredential config, Function<String, String> env, HttpClient http, Clock clock)
      throws Credentials.UnresolvableCredentialException {
    this.header = config.getHeader();
    this.http = http;
    this.clock = clock;
    if (config.hasClientCredentials()) {
      this.grant = config.getClientCredentials();
      this.clientSecret = EntraCredentials.secret(grant.getClientSecret(), env);
      this.staticValue = null;
    } else {
      this.grant = null;
      this.clientSecret = null;
      String key = EntraCredentials.secret(config.getKey(), env);
      this.staticValue = isAuthorization() ? "Bearer " + key : key;
    }
  }

  public String header() {
    return header;
  }

  private boolean isAuthorization() {
    return header.equalsIgnoreCase("authorization");
  }

  /** The header value to send now. */
  public synchronized String value() throws Unavailable {
    if (staticValue != null) {
      return staticValue;
    }
    if (token == null || !clock.instant().isBefore(refreshAt)) {
      fetch();
    }
    return isAuthorization() ? "Bearer " + token : token;
  }

  private void fetch() throws Unavailable {
    StringBuilder form = new StringBuilder("grant_type=client_credentials")
        .append("&client_id=").append(enc(grant.getClientId()))
        .append("&client_secret=").append(enc(clientSecret));
    if (!grant.getScope().isEmpty()) {
      form.append("&scope=").append(enc(grant.getScope()));
    }
    if (!grant.getResource().isEmpty()) {
      form.append("&resource=").append(enc(grant.getResource()));
    }
    HttpResponse<byte[]> response;
    try {
      response = http.send(HttpRequest.newBuilder(URI.create(grant.getTokenUrl()))
          .timeout(Duration.ofSeconds(10))
          .header("content-type", "application/x-www-form-urlencoded")
          .header("accept", "application/json")
          .POST(HttpRequest.BodyPublishers.ofString(form.toString())).build(), HttpResponse.BodyHandlers.ofByteArray());
    } catch (IOException e) {
      throw new Unavailable("token endpoint " + grant.getTokenUrl() + " unreachable: " + e.getMessage());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new Unavailable("interrupted while fetching a token");
    }
    JsonNode body;
    try {
      body = Json.MAPPER.readTree(response.body());
    } catch (IOException e) {
      body = null;
    }
    if (response.statusCode() != 200 || body == null || !body.path("access_token").isTextual()) {
      String error = body == null ? "" : body.path("error").asText("");
      throw new Unavailable("token endpoint answered " + response.statusCode() + (error.isEmpty() ? "" : " " + error));
    }
    token = body.get("access_token").asText();
    long expiresIn = body.path("expires_in").asLong(300);
    Instant now = clock.instant();
    Instant expires = now.plusSeconds(expiresIn);
    refreshAt = expires.minus(EARLY).isAfter(now) ? expires.minus(EARLY) : now.plusSeconds(expiresIn / 2);
  }

  private static String enc(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8);
  }
}
