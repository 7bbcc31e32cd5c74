package dev.weir.extproc.admin;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executors;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * The admin HTTP port: {@code /healthz} (the process is alive), {@code /readyz} (accepting new
 * exchanges; 503 while starting or draining), {@code /metrics} (Prometheus text format),
 * {@code /status} (the last reload) and {@code POST /reload}.
 * Uses the JDK's HTTP server on one virtual-thread-per-request executor: it serves probes and
 * scrapes, not traffic.
 */
public final class AdminServer implements AutoCloseable {
  private final HttpServer server;

  /**
   * @param reload re-reads the config and says what happened; null when the server has no file
   * @param status a line about the last reload
   */
  public AdminServer(String host, int port, BooleanSupplier ready, Supplier<String> metrics,
      Supplier<String> reload, Supplier<String> status) throws IOException {
    server = HttpServer.create(new InetSocketAddress(host, port), 16);
    server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
    server.createContext("/healthz", ex -> send(ex, 200, "text/plain", "ok\n"));
    server.createContext("/readyz", ex -> {
      boolean ok = ready.getAsBoolean();
      send(ex, ok ? 200 : 503, "text/plain", ok ? "ready\n" : "not ready\n");
    });
    server.createContext("/metrics", ex ->
        send(ex, 200, "text/plain; version=0.0.4; charset=utf-8", metrics.get()));
    server.createContext("/status", ex -> send(ex, 200, "text/plain", status.get()));
    server.createContext("/reload", ex -> {
      if (!"POST".equals(ex.getRequestMethod())) {
        send(ex, 405, "text/plain", "use POST\n");
      } else if (reload == null) {
        send(ex, 404, "text/plain", "this server was started without a config file\n");
      } else {
        String answer = reload.get();
        send(ex, answer.startsWith("reloaded") ? 200 : 400, "text/plain", answer);
      }
    });
    server.createContext("/", ex -> send(ex, 404, "text/plain", "not found\n"));
    server.start();
  }

  public int port() {
    return server.getAddress().getPort();
  }

  private static void send(HttpExchange ex, int status, String type, String body) throws IOException {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    ex.getResponseHeaders().set("content-type", type);
    boolean head = "HEAD".equals(ex.getRequestMethod());
    ex.sendResponseHeaders(status, head ? -1 : bytes.length);
    if (!head) {
      try (OutputStream out = ex.getResponseBody()) {
        out.write(bytes);
      }
    }
    ex.close();
  }

  @Override
  public void close() {
    server.stop(0);
  }
}
