package dev.weir.extproc.backendauth;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Entra ID's token endpoint ({@code POST /<tenant>/oauth2/v2.0/token}) and the instance metadata
 * service ({@code GET /metadata/identity/oauth2/token}) for tests: each grants
 * {@code entra-token-<n>}, or fails as scripted.
 */
public final class ScriptedEntra implements AutoCloseable {
  /** One token request as received. */
  public record Request(String method, String path, Map<String, String> params, String metadataHeader) {}

  private final HttpServer server;
  private final List<Request> requests = new CopyOnWriteArrayList<>();
  private final AtomicInteger issued = new AtomicInteger();
  private volatile long expiresInSeconds = 3599;
  private volatile int failWith;

  public ScriptedEntra() throws IOException {
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.createContext("/", ex -> {
      String raw = ex.getRequestMethod().equals("POST")
          ? new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8)
          : ex.getRequestURI().getRawQuery();
      requests.add(new Request(ex.getRequestMethod(), ex.getRequestURI().getPath(), form(raw),
          ex.getRequestHeaders().getFirst("Metadata")));
      String body;
      int status;
      if (failWith != 0) {
        status = failWith;
        body = "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: Invalid client secret provided.\"}";
      } else {
        status = 200;
        boolean imds = ex.getRequestMethod().equals("GET");
        String expires = imds ? "\"" + expiresInSeconds + "\"" : Long.toString(expiresInSeconds);
        body = "{\"token_type\":\"Bearer\",\"expires_in\":" + expires + ",\"access_token\":\"entra-token-"
            + issued.incrementAndGet() + "\"}";
      }
      byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
      ex.getResponseHeaders().set("content-type", "application/json");
      ex.sendResponseHeaders(status, bytes.length);
      ex.getResponseBody().write(bytes);
      ex.close();
    });
    server.start();
  }

  private static Map<String, String> form(String raw) {
    Map<String, String> out = new LinkedHashMap<>();
    if (raw == null || raw.isEmpty()) {
      return out;
    }
    for (String pair : raw.split("&")) {
      int eq = pair.indexOf('=');
      out.put(URLDecoder.decode(pair.substring(0, eq), StandardCharsets.UTF_8),
          URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8));
    }
    return out;
  }

  public String url() {
    return "http://127.0.0.1:" + server.getAddress().getPort();
  }

  public String imdsUrl() {
    return url() + "/metadata/identity/oauth2/token";
  }

  public void expiresIn(long seconds) {
    expiresInSeconds = seconds;
  }

  /** Answer every request with this status and Entra's error JSON (0: grant again). */
  public void failWith(int status) {
    failWith = status;
  }

  public List<Request> requests() {
    return requests;
  }

  public Request last() {
    return requests.get(requests.size() - 1);
  }

  @Override
  public void close() {
    server.stop(0);
  }
}
