package dev.weir.testkit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import java.io.IOException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The scripted upstream's small JSON REST API under {@code /api/tickets}, as
 * {@code examples/tickets-openapi.yaml} describes it: list (with {@code status} and {@code limit}
 * query parameters), get by id (404 when unknown), create (201), delete (204). It starts with two
 * tickets; each upstream keeps its own.
 */
final class TicketsApi {
  private static final ObjectMapper JSON = new ObjectMapper();
  private final Map<Integer, ObjectNode> tickets = new TreeMap<>();
  private final AtomicInteger nextId = new AtomicInteger(1);

  TicketsApi() {
    add("Printer on fire", "high");
    add("Coffee machine empty", "normal");
  }

  private synchronized ObjectNode add(String title, String priority) {
    int id = nextId.getAndIncrement();
    ObjectNode t = JSON.createObjectNode().put("id", id).put("title", title).put("priority", priority)
        .put("status", "open");
    tickets.put(id, t);
    return t;
  }

  /** Answers a request under /api/tickets; false when the path is not this API's. */
  synchronized boolean answer(HttpExchange ex, String path, byte[] body) throws IOException {
    String p = path.contains("?") ? path.substring(0, path.indexOf('?')) : path;
    if (!p.equals("/api/tickets") && !p.startsWith("/api/tickets/")) {
      return false;
    }
    String method = ex.getRequestMethod();
    if (p.equals("/api/tickets")) {
      if (method.equals("GET")) {
        Map<String, String> query = query(path);
        ArrayNode out = JSON.createArrayNode();
        int limit = query.containsKey("limit") ? Integer.parseInt(query.get("limit")) : 100;
        tickets.values().stream().sorted((a, b) -> b.get("id").asInt() - a.get("id").asInt())
            .filter(t -> !query.containsKey("status") || t.get("status").asText().equals(query.get("status")))
            .limit(limit).forEach(out::add);
        send(ex, 200, out.toString());
      } else if (method.equals("POST")) {
        JsonNode in = body.length == 0 ? JSON.createObjectNode() : JSON.readTree(body);
        if (!in.path("title").isTextual()) {
          send(ex, 400, "{\"error\":\"title is required\"}");
        } else {
          send(ex, 201, add(in.get("title").asText(), in.path("priority").asText("normal")).toString());
        }
      } else {
        send(ex, 405, "{\"error\":\"method not allowed\"}");
      }
      return true;
    }
    int id;
    try {
      id = Integer.parseInt(p.substring("/api/tickets/".length()));
    } catch (NumberFormatException e) {
      send(ex, 400, "{\"error\":\"id must be a number\"}");
      return true;
    }
    ObjectNode t = tickets.get(id);
    if (t == null) {
      send(ex, 404, "{\"error\":\"ticket " + id + " not found\"}");
    } else if (method.equals("GET")) {
      send(ex, 200, t.toString());
    } else if (method.equals("DELETE")) {
      tickets.remove(id);
      ex.sendResponseHeaders(204, -1);
    } else {
      send(ex, 405, "{\"error\":\"method not allowed\"}");
    }
    return true;
  }

  private static Map<String, String> query(String path) {
    Map<String, String> out = new HashMap<>();
    int q = path.indexOf('?');
    if (q >= 0) {
      for (String pair : path.substring(q + 1).split("&")) {
        int eq = pair.indexOf('=');
        if (eq > 0) {
          out.put(URLDecoder.decode(pair.substring(0, eq), StandardCharsets.UTF_8),
              URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8));
        }
      }
    }
    return out;
  }

  private static void send(HttpExchange ex, int status, String json) throws IOException {
    byte[] b = json.getBytes(StandardCharsets.UTF_8);
    ex.getResponseHeaders().set("content-type", "application/json");
    ex.sendResponseHeaders(status, b.length);
    ex.getResponseBody().write(b);
  }
}
