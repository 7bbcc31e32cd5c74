package dev.weir.extproc.breaker;

import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reports trips, recoveries and capacity weights to xds-control-plane's admin API
 * ({@code POST /breaker/trip|recover|weight}, with the admin token), asynchronously on the JDK's
 * HTTP client: an exchange never waits for it. A failed report is logged and tried once more a
 * second later; the control plane ends trips on its own clock, so a lost recovery costs nothing
 * and a lost trip only delays the move away from a throttled member to the next counted answer.
 */
public final class ControlPlaneReporter implements TripReporter {
  private static final Logger log = LoggerFactory.getLogger(ControlPlaneReporter.class);
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
  private final String baseUrl;
  private final String token;

  public ControlPlaneReporter(String baseUrl, String token) {
    this.baseUrl = baseUrl.endsWith("/") ? baseUrl.substring(0, baseUrl.length() - 1) : baseUrl;
    this.token = token;
  }

  @Override
  public void trip(String pool, String backend, long seconds, String reason) {
    post("trip", pool, backend, "&seconds=" + seconds + "&reason=" + URLEncoder.encode(reason, StandardCharsets.UTF_8), 2);
  }

  @Override
  public void tripMillis(String pool, String backend, long millis, String reason) {
    // Whole seconds too, rounded up: a control plane of the previous release reads only those, so a
    // rolling upgrade still gets every trip to Envoy.
    post("trip", pool, backend, "&millis=" + millis + "&seconds=" + Math.max(1, (millis + 999) / 1000) + "&reason="
        + URLEncoder.encode(reason, StandardCharsets.UTF_8), 2);
  }

  @Override
  public void recover(String pool, String backend) {
    post("recover", pool, backend, "", 2);
  }

  @Override
  public void weight(String pool, String backend, int weight) {
    post("weight", pool, backend, "&value=" + weight, 1);
  }

  private void post(String action, String pool, String backend, String extra, int tries) {
    URI uri = URI.create(baseUrl + "/breaker/" + action + "?pool=" + URLEncoder.encode(pool, StandardCharsets.UTF_8)
        + "&backend=" + URLEncoder.encode(backend, StandardCharsets.UTF_8) + extra);
    HttpRequest request = HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(5))
        .header("Authorization", "Bearer " + token).POST(HttpRequest.BodyPublishers.noBody()).build();
    http.sendAsync(request, HttpResponse.BodyHandlers.ofString()).whenComplete((response, error) -> {
      if (error == null && response.statusCode() == 200) {
        return;
      }
      String why = error != null ? error.toString() : response.statusCode() + " " + response.body().strip();
      log.warn("breaker {} {}/{} not reported to the control plane at {} ({}){}", action, pool, backend, baseUrl, why,
          tries > 1 ? "; trying again in 1 s" : "");
      if (tries > 1) {
        java.util.concurrent.CompletableFuture.delayedExecutor(1, java.util.concurrent.TimeUnit.SECONDS)
            .execute(() -> post(action, pool, backend, extra, tries - 1));
      }
    });
  }
}
