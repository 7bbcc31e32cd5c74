package dev.weir.extproc.safety.scanners;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * A scripted content-safety service on loopback (a plain JDK HttpServer): every request is recorded
 * and answered by a script that sees it, so a test can make the service answer by category, slowly,
 * with an error, or never.
 */
public final class ScriptedScanner implements AutoCloseable {
  static final ObjectMapper JSON = new ObjectMapper();

  /** A request as received: path with query, headers (lower-case names), JSON body. */
  public record Received(String path, Map<String, String> headers, JsonNode body) {}

  /** What to answer: a status and body after a delay, or nothing ever ({@link #hang()}). */
  public record Reply(int status, String body, long delayMillis, boolean hang) {}

  public static Reply json(String body) {
    return new Reply(200, body, 0, false);
  }

  public static Reply status(int status) {
    return new Reply(status, "{\"error\":{\"code\":\"InternalError\",\"message\":\"scripted\"}}", 0, false);
  }

  public static Reply slow(long delayMillis, String body) {
    return new Reply(200, body, delayMillis, false);
  }

  public static Reply hang() {
    return new Reply(0, "", 0, true);
  }

  /** Azure text:analyze's answer: each category at a severity, and matched blocklists. */
  public static String analyze(Map<String, Integer> severities, String... blocklists) {
    StringBuilder b = new StringBuilder("{\"blocklistsMatch\":[");
    for (int i = 0; i < blocklists.length; i++) {
      b.append(i == 0 ? "" : ",").append("{\"blocklistName\":\"").append(blocklists[i])
          .append("\",\"blocklistItemId\":\"x\",\"blocklistItemText\":\"x\"}");
    }
    b.append("],\"categoriesAnalysis\":[");
    int i = 0;
    for (Map.Entry<String, Integer> e : severities.entrySet()) {
      b.append(i++ == 0 ? "" : ",").append("{\"category\":\"").append(e.getKey()).append("\",\"severity\":")
          .append(e.getValue()).append('}');
    }
    return b.append("]}").toString();
  }

  private final HttpServer server;
  private final List<Received> received = new CopyOnWriteArrayList<>();
  private final CountDownLatch closed = new CountDownLatch(1);
  private volatile Function<Received, Reply> script;

  public ScriptedScanner(Function<Received, Reply> script) throws IOException {
    this.script = script;
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
    server.createContext("/", exchange -> {
      try (exchange) {
        String body = new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
        Map<String, String> headers = new java.util.HashMap<>();
        exchange.getRequestHeaders().forEach((k, v) -> headers.put(k.toLowerCase(java.util.Locale.ROOT), v.get(0)));
        String query = exchange.getRequestURI().getRawQuery();
        Received r = new Received(exchange.getRequestURI().getPath() + (query == null ? "" : "?" + query), headers,
            body.isEmpty() ? JSON.nullNode() : JSON.readTree(body));
        received.add(r);
        Reply reply = this.script.apply(r);
        if (reply.hang()) {
          closed.await(60, TimeUnit.SECONDS);
          return;
        }
        if (reply.delayMillis() > 0) {
          Thread.sleep(reply.delayMillis());
        }
        byte[] out = reply.body().getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", "application/json");
        exchange.sendResponseHeaders(reply.status(), out.length);
        try (OutputStream os = exchange.getResponseBody()) {
          os.write(out);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } catch (IOException e) {
        // The gateway gave up on this call (its timeout); nothing to answer.
      }
    });
    server.start();
  }

  public String url() {
    return "http://127.0.0.1:" + server.getAddress().getPort();
  }

  public void script(Function<Received, Reply> script) {
    this.script = script;
  }

  public List<Received> received() {
    return List.copyOf(received);
  }

  public void reset() {
    received.clear();
  }

  @Override
  public void close() {
    closed.countDown();
    server.stop(0);
  }
}
