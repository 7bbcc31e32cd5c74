package dev.weir.admin;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Locale;
import java.util.concurrent.Executors;
import java.util.function.Function;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The admin HTTP port of both services. Probes ({@code /healthz}, {@code /readyz},
 * {@code /metrics}) are always open; information pages are open when the port is bound to
 * loopback and need the admin token otherwise; actions (anything that changes state) are POST
 * only, need the admin token, refuse cross-site requests and are audited on {@code weir.audit}.
 * Runs on the JDK's HTTP server with a virtual thread per request: it serves probes, scrapes and
 * operators, not traffic. It never sends CORS headers, so browsers keep other sites' scripts out.
 */
public final class AdminHttp implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(AdminHttp.class);
  private static final Logger audit = LoggerFactory.getLogger("weir.audit");
  /** How to configure the token, for refusals and docs. */
  public static final String HOW_TO_SET_TOKEN = "set security.adminToken ({ env: VAR } or { file: path })"
      + " in the config and send it as \"Authorization: Bearer <token>\"";

  /** An answer: status, content type and body. */
  public record Answer(int status, String contentType, String body) {
    public static Answer text(int status, String body) {
      return new Answer(status, "text/plain; charset=utf-8", body);
    }

    public static Answer json(int status, String body) {
      return new Answer(status, "application/json", body);
    }

    public static Answer csv(int status, String body) {
      return new Answer(status, "text/csv; charset=utf-8", body);
    }
  }

  /** A request that passed the checks for actions. */
  public record ActionRequest(String path, String query, String caller) {}

  /** Changes state; runs only for an authenticated, same-site POST. */
  @FunctionalInterface
  public interface Action {
    Answer run(ActionRequest request) throws IOException;
  }

  static final String CONTENT_SECURITY_POLICY = "default-src 'self'; script-src 'self'; style-src 'self';"
      + " img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self';"
      + " frame-ancestors 'none'";
  private final HttpServer server;
  private final boolean loopback;
  private final Supplier<String> token;

  /**
   * @param token the admin token in force (re-read on every request, so a reload or a rotated
   *     file takes effect at once); null or blank: actions are refused
   */
  public AdminHttp(String host, int port, Supplier<String> token) throws IOException {
    this.server = HttpServer.create(new InetSocketAddress(host, port), 16);
    this.loopback = server.getAddress().getAddress().isLoopbackAddress();
    this.token = token;
    server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
    server.createContext("/", ex -> send(ex, Answer.text(404, "not found\n")));
  }

  /** A liveness/readiness probe or scrape: GET, always open. */
  public AdminHttp probe(String path, Supplier<Answer> page) {
    server.createContext(path, ex -> {
      if (!isRead(ex)) {
        send(ex, Answer.text(405, "use GET\n"));
        return;
      }
      send(ex, page.get());
    });
    return this;
  }

  /** Read-only information: GET; open on loopback, else it needs the admin token. */
  public AdminHttp page(String path, Supplier<Answer> page) {
    server.createContext(path, ex -> {
      if (!isRead(ex)) {
        send(ex, Answer.text(405, "use GET\n"));
        return;
      }
      if (!loopback) {
        Answer refused = authenticate(ex);
        if (refused != null) {
          send(ex, refused);
          return;
        }
      }
      send(ex, page.get());
    });
    return this;
  }

  /**
   * Read-only data that can say who spends what ({@code /usage}, {@code /events}): GET with query
   * parameters. It needs the admin token whenever one is configured, on loopback too; without a
   * token it is open on loopback only.
   */
  public AdminHttp data(String path, java.util.function.Function<java.util.Map<String, String>, Answer> page) {
    server.createContext(path, ex -> {
      if (!isRead(ex)) {
        send(ex, Answer.text(405, "use GET\n"));
        return;
      }
      String expected = token == null ? null : token.get();
      if (expected != null && !expected.isBlank() || !loopback) {
        Answer refused = authenticate(ex);
        if (refused != null) {
          send(ex, refused);
          return;
        }
      }
      if (!ex.getRequestURI().getPath().equals(path)) {
        send(ex, Answer.text(404, "not found\n"));
        return;
      }
      Answer answer;
      try {
        answer = page.apply(query(ex.getRequestURI().getRawQuery()));
      } catch (RuntimeException e) {
        log.error("admin page {} failed", path, e);
        answer = Answer.text(500, "failed: " + sanitize(String.valueOf(e.getMessage())) + "\n");
      }
      send(ex, answer);
    });
    return this;
  }

  /**
   * Files that carry no data (the console's HTML, scripts and styles): GET, open to anyone who
   * reaches the port, like the probes; what they show comes from {@link #data} pages. The page
   * gets the request's path.
   */
  public AdminHttp asset(String path, Function<String, Answer> page) {
    server.createContext(path, ex -> {
      if (!isRead(ex)) {
        send(ex, Answer.text(405, "use GET\n"));
        return;
      }
      Answer answer;
      try {
        answer = page.apply(ex.getRequestURI().getPath());
      } catch (RuntimeException e) {
        log.error("admin page {} failed", path, e);
        answer = Answer.text(500, "failed; the server's log says why\n");
      }
      send(ex, answer);
    });
    return this;
  }

  /** Query parameters, decoded; the first value of a name wins; at most 32 are read. */
  static java.util.Map<String, String> query(String raw) {
    java.util.Map<String, String> params = new java.util.LinkedHashMap<>();
    if (raw == null || raw.isEmpty()) {
      return params;
    }
    String[] pairs = raw.split("&", 33);
    for (int i = 0; i < Math.min(pairs.length, 32); i++) {
      String pair = pairs[i];
      int eq = pair.indexOf('=');
      try {
        String name = java.net.URLDecoder.decode(eq < 0 ? pair : pair.substring(0, eq), StandardCharsets.UTF_8);
        String value = eq < 0 ? "" : java.net.URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
        params.putIfAbsent(name, value);
      } catch (IllegalArgumentException e) {
        // a malformed escape: the parameter is ignored, the page says what it missed
      }
    }
    return params;
  }

  /** An action at {@code path} (and below it when the path ends with '/'). */
  public AdminHttp action(String path, Action action) {
    server.createContext(path, ex -> {
      String caller = ex.getRemoteAddress().getAddress().getHostAddress();
      String target = ex.getRequestURI().getPath() + (ex.getRequestURI().getRawQuery() == null ? ""
          : "?" + ex.getRequestURI().getRawQuery());
      Answer answer;
      try {
        answer = checkAction(ex);
        if (answer == null) {
          drain(ex);
          answer = action.run(new ActionRequest(ex.getRequestURI().getPath(), ex.getRequestURI().getQuery(), caller));
        }
      } catch (RuntimeException e) {
        log.error("admin action {} failed", target, e);
        answer = Answer.text(500, "failed: " + e.getMessage() + "\n");
      }
      // Every attempt, allowed or not, with who made it.
      audit.info("admin {} {} from={} status={}", ex.getRequestMethod(), sanitize(target), caller, answer.status());
      send(ex, answer);
    });
    return this;
  }

  public AdminHttp start() {
    server.start();
    return this;
  }

  public int port() {
    return server.getAddress().getPort();
  }

  /** Null when the request may run the action, else the refusal. */
  private Answer checkAction(HttpExchange ex) {
    if (!"POST".equals(ex.getRequestMethod())) {
      return Answer.text(405, "use POST\n");
    }
    Answer crossSite = crossSite(ex);
    if (crossSite != null) {
      return crossSite;
    }
    return authenticate(ex);
  }

  /**
   * Refuses what a browser sends on another site's behalf: an Origin that is not this host, a
   * Sec-Fetch-Site of cross-site or same-site, and the content types an HTML form can POST
   * without a CORS preflight. Command-line clients send none of these.
   */
  static Answer crossSiteCheck(String origin, String host, String fetchSite, String contentType) {
    if (fetchSite != null && !(fetchSite.equalsIgnoreCase("same-origin") || fetchSite.equalsIgnoreCase("none"))) {
      return Answer.text(403, "cross-site requests are refused (Sec-Fetch-Site: " + fetchSite + ")\n");
    }
    if (origin != null) {
      String originHost;
      try {
        originHost = URI.create(origin.strip()).getRawAuthority();
      } catch (IllegalArgumentException e) {
        originHost = null;
      }
      if (originHost == null || host == null || !originHost.equalsIgnoreCase(host.strip())) {
        return Answer.text(403, "cross-site requests are refused (Origin: " + sanitize(origin) + ")\n");
      }
    }
    if (contentType != null) {
      String type = contentType.split(";")[0].strip().toLowerCase(Locale.ROOT);
      if (type.equals("application/x-www-form-urlencoded") || type.equals("multipart/form-data")
          || type.equals("text/plain")) {
        return Answer.text(415, "form content types are refused; send no body or application/json\n");
      }
    }
    return null;
  }

  private static Answer crossSite(HttpExchange ex) {
    var h = ex.getRequestHeaders();
    return crossSiteCheck(h.getFirst("Origin"), h.getFirst("Host"), h.getFirst("Sec-Fetch-Site"),
        h.getFirst("Content-Type"));
  }

  private Answer authenticate(HttpExchange ex) {
    String expected = token == null ? null : token.get();
    if (expected == null || expected.isBlank()) {
      return Answer.text(403, "admin actions are disabled: no admin token is configured; " + HOW_TO_SET_TOKEN + "\n");
    }
    String header = ex.getRequestHeaders().getFirst("Authorization");
    String presented = header != null && header.regionMatches(true, 0, "Bearer ", 0, 7) ? header.substring(7).strip() : null;
    if (presented == null || !tokensEqual(presented, expected)) {
      ex.getResponseHeaders().set("WWW-Authenticate", "Bearer realm=\"weir-admin\"");
      return Answer.text(401, "a valid admin token is required (Authorization: Bearer <token>)\n");
    }
    return null;
  }

  /** Constant time in the secret: both sides are hashed first, so even lengths do not leak. */
  static boolean tokensEqual(String presented, String expected) {
    try {
      MessageDigest a = MessageDigest.getInstance("SHA-256");
      MessageDigest b = MessageDigest.getInstance("SHA-256");
      return MessageDigest.isEqual(a.digest(presented.getBytes(StandardCharsets.UTF_8)),
          b.digest(expected.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every JDK has SHA-256", e);
    }
  }

  private static boolean isRead(HttpExchange ex) {
    return "GET".equals(ex.getRequestMethod()) || "HEAD".equals(ex.getRequestMethod());
  }

  /** Keeps control characters out of log lines and answers. */
  private static String sanitize(String s) {
    String cut = s.length() > 200 ? s.substring(0, 200) + "..." : s;
    return cut.replaceAll("[\\p{Cntrl}]", "?");
  }

  private static void drain(HttpExchange ex) throws IOException {
    try (InputStream in = ex.getRequestBody()) {
      in.skip(64 * 1024);
    }
  }

  private static void send(HttpExchange ex, Answer a) throws IOException {
    byte[] bytes = a.body().getBytes(StandardCharsets.UTF_8);
    ex.getResponseHeaders().set("content-type", a.contentType());
    ex.getResponseHeaders().set("x-content-type-options", "nosniff");
    ex.getResponseHeaders().set("cache-control", "no-store");
    // The console's pages load only this origin's scripts, styles and data, and no one may frame them.
    ex.getResponseHeaders().set("content-security-policy", CONTENT_SECURITY_POLICY);
    ex.getResponseHeaders().set("x-frame-options", "DENY");
    ex.getResponseHeaders().set("referrer-policy", "no-referrer");
    boolean head = "HEAD".equals(ex.getRequestMethod());
    ex.sendResponseHeaders(a.status(), head ? -1 : bytes.length == 0 ? -1 : bytes.length);
    if (!head && bytes.length > 0) {
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
