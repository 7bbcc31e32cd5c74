package dev.weir.extproc.console;

import dev.weir.config.Credentials;
import dev.weir.config.v1.GatewayConfig;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.function.Function;

/**
 * ext-proc-server's client of xds-control-plane's admin API, for the console: reads the drain and
 * weight overrides and forwards drain/undrain. The control plane's token stays in this process;
 * the browser only ever holds ext-proc-server's. Blocking (2 s timeouts) on the admin port's
 * virtual threads, never on gRPC threads.
 */
public final class ControlPlaneClient {
  private static final Duration TIMEOUT = Duration.ofSeconds(2);
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(TIMEOUT)
      .followRedirects(HttpClient.Redirect.NEVER).build();

  /** A control plane answer: status and body; status 0 when it could not be reached. */
  public record Reply(int status, String body) {}

  /** Where the control plane's admin API is for {@code config}: controlPlaneAdminUrl or loopback. */
  static String baseUrl(GatewayConfig config) {
    String url = config.getControlPlaneAdminUrl();
    if (url.isEmpty()) {
      return "http://127.0.0.1:" + config.getControlPlane().getAdminPort();
    }
    return url.endsWith("/") ? url.substring(0, url.length() - 1) : url;
  }

  /** The token to send: console.controlPlaneToken, else security.adminToken; null when none. */
  static String token(GatewayConfig config, Function<String, String> env) {
    var credential = config.getConsole().hasControlPlaneToken() ? config.getConsole().getControlPlaneToken()
        : config.getSecurity().hasAdminToken() ? config.getSecurity().getAdminToken() : null;
    if (credential == null) {
      return null;
    }
    try {
      return Credentials.resolve(credential, env);
    } catch (Credentials.UnresolvableCredentialException e) {
      return null;
    }
  }

  public Reply get(GatewayConfig config, Function<String, String> env, String path) {
    return send(config, env, HttpRequest.newBuilder(URI.create(baseUrl(config) + path)).GET());
  }

  public Reply post(GatewayConfig config, Function<String, String> env, String path) {
    return send(config, env, HttpRequest.newBuilder(URI.create(baseUrl(config) + path))
        .POST(HttpRequest.BodyPublishers.noBody()));
  }

  private Reply send(GatewayConfig config, Function<String, String> env, HttpRequest.Builder request) {
    String token = token(config, env);
    if (token != null) {
      request.header("Authorization", "Bearer " + token);
    }
    try {
      HttpResponse<String> r = http.send(request.timeout(TIMEOUT).build(), HttpResponse.BodyHandlers.ofString());
      return new Reply(r.statusCode(), r.body());
    } catch (IOException e) {
      return new Reply(0, "the control plane at " + baseUrl(config) + " cannot be reached: " + e.getMessage());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return new Reply(0, "interrupted");
    }
  }
}
