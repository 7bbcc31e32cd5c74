package dev.weir.testkit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A scripted OpenAI-compatible backend over real HTTP. By default it answers like OpenAI (chat
 * completions as JSON or SSE with {@code usage}, completions, embeddings), also on Azure OpenAI's
 * {@code /openai/deployments/{name}/...} paths, like Anthropic on {@code /v1/messages}
 * ({@link AnthropicDialect}), OpenAI's Responses API on {@code /v1/responses}
 * ({@link ResponsesDialect}) and Bedrock on {@code /model/{id}/converse[-stream]}
 * ({@link BedrockDialect}), and a small JSON REST API under {@code /api/tickets} ({@link TicketsApi},
 * described by {@code examples/tickets-openapi.yaml}). Tests queue {@link Reply replies} to script errors
 * (429 with {@code Retry-After}, 500, 503), slow and hanging answers, and dropped connections.
 * Every request it receives is recorded for assertions.
 */
public final class ScriptedUpstream implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Pattern AZURE = Pattern.compile(".*/openai/deployments/([^/]+)(/.*)");

  /** A request as the backend received it. */
  public record Recorded(String method, String path, HeaderList headers, byte[] body) {
    public String header(String name) {
      return headers.get(name);
    }

    public JsonNode json() {
      try {
        return JSON.readTree(body);
      } catch (IOException e) {
        throw new IllegalStateException("recorded body is not JSON: " + new String(body, StandardCharsets.UTF_8), e);
      }
    }
  }

  /** What to answer one request with. */
  public sealed interface Reply permits Default, Status, Json, Sse, Hang, Drop, Slow {}

  /** The built-in OpenAI-like answer. */
  public record Default() implements Reply {}

  /** An error in OpenAI's shape, with optional extra headers (e.g. Retry-After). */
  public record Status(int status, String message, Map<String, String> headers) implements Reply {}

  /** A fixed JSON body. */
  public record Json(int status, String body) implements Reply {}

  /** Raw SSE: each string is written and flushed as its own chunk, with a pause in between. */
  public record Sse(List<String> chunks, Duration pause) implements Reply {}

  /** Accepts the request and never answers (until the upstream is closed). */
  public record Hang() implements Reply {}

  /** Closes the connection without answering. */
  public record Drop() implements Reply {}

  /** The default answer after a delay. */
  public record Slow(Duration delay) implements Reply {}

  public static Reply tooManyRequests(int retryAfterSeconds) {
    return new Status(429, "Rate limit reached. Please retry after " + retryAfterSeconds + " seconds.",
        Map.of("retry-after", Integer.toString(retryAfterSeconds)));
  }

  public static Reply status(int status) {
    return new Status(status, "scripted " + status, Map.of());
  }

  private final String name;
  private final HttpServer server;
  private final List<Recorded> received = Collections.synchronizedList(new ArrayList<>());
  private final ConcurrentLinkedQueue<Reply> script = new ConcurrentLinkedQueue<>();
  private final CountDownLatch closed = new CountDownLatch(1);
  private volatile Reply fallback = new Default();
  private final TicketsApi tickets = new TicketsApi();

  public ScriptedUpstream(String name) throws IOException {
    this(name, 0);
  }

  /** Listens on a loopback port (0: any free port). */
  public ScriptedUpstream(String name, int port) throws IOException {
    this.name = name;
    this.server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 128);
    server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
    server.createContext("/", this::handle);
    server.start();
  }

  public String name() {
    return name;
  }

  public int port() {
    return server.getAddress().getPort();
  }

  public String url() {
    return "http://127.0.0.1:" + port();
  }

  /** Queues replies for the next requests, in order; after them the fallback answers. */
  public ScriptedUpstream enqueue(Reply... replies) {
    script.addAll(List.of(replies));
    return this;
  }

  /** What to answer once the queue is empty (the default OpenAI-like answer unless set). */
  public ScriptedUpstream fallback(Reply reply) {
    this.fallback = reply;
    return this;
  }

  public List<Recorded> received() {
    synchronized (received) {
      return List.copyOf(received);
    }
  }

  public Recorded last() {
    List<Recorded> all = received();
    if (all.isEmpty()) {
      throw new AssertionError(name + " received no request");
    }
    return all.get(all.size() - 1);
  }

  public void reset() {
    received.clear();
    script.clear();
    fallback = new Default();
  }

  private void handle(HttpExchange ex) throws IOException {
    HeaderList headers = new HeaderList();
    ex.getRequestHeaders().forEach((k, vs) -> vs.forEach(v -> headers.add(k, v)));
    byte[] body = ex.getRequestBody().readAllBytes();
    String path = ex.getRequestURI().getRawPath()
        + (ex.getRequestURI().getRawQuery() == null ? "" : "?" + ex.getRequestURI().getRawQuery());
    received.add(new Recorded(ex.getRequestMethod(), path, headers, body));
    Reply reply = script.poll();
    if (reply == null) {
      reply = fallback;
    }
    try {
      answer(ex, reply, path, body);
    } finally {
      ex.close();
    }
  }

  private void answer(HttpExchange ex, Reply reply, String path, byte[] body) throws IOException {
    switch (reply) {
      case Status s -> {
        s.headers().forEach((k, v) -> ex.getResponseHeaders().set(k, v));
        ObjectNode err = JSON.createObjectNode();
        ObjectNode e = err.putObject("error");
        e.put("message", s.message());
        e.put("type", s.status() == 429 ? "rate_limit_exceeded" : "server_error");
        e.put("code", Integer.toString(s.status()));
        send(ex, s.status(), "application/json", err.toString());
      }
      case Json j -> send(ex, j.status(), "application/json", j.body());
      case Sse sse -> stream(ex, sse.chunks(), sse.pause());
      case Hang h -> {
        try {
          closed.await();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
      case Drop d -> { } // closing the exchange without a status line drops the connection
      case Slow s -> {
        sleep(s.delay());
        answerDefault(ex, path, body);
      }
      case Default d -> answerDefault(ex, path, body);
    }
  }

  private void answerDefault(HttpExchange ex, String path, byte[] body) throws IOException {
    if (BedrockDialect.answer(ex, path, body, "Hello from " + name + "!") || tickets.answer(ex, path, body)) {
      return;
    }
    String p = path.contains("?") ? path.substring(0, path.indexOf('?')) : path;
    String deployment = null;
    Matcher m = AZURE.matcher(p);
    if (m.matches()) {
      deployment = m.group(1);
      p = "/v1" + m.group(2);
    } else if (p.indexOf("/v1/") > 0) {
      p = p.substring(p.indexOf("/v1/")); // served under a base path, as behind a path-routing proxy
    }
    JsonNode request;
    try {
      request = body.length == 0 ? JSON.createObjectNode() : JSON.readTree(body);
    } catch (IOException e) {
      send(ex, 400, "application/json", "{\"error\":{\"message\":\"bad json\",\"type\":\"invalid_request_error\"}}");
      return;
    }
    String model = deployment != null ? deployment : request.path("model").asText("unknown");
    String text = "Hello from " + name + "!";
    switch (p) {
      case "/v1/messages" -> AnthropicDialect.answer(ex, request, text);
      case "/v1/responses" -> ResponsesDialect.answer(ex, request, model, text);
      case "/v1/chat/completions" -> {
        if (request.path("stream").asBoolean(false)) {
          boolean usage = request.path("stream_options").path("include_usage").asBoolean(false);
          stream(ex, chatChunks(model, text, usage), Duration.ZERO);
        } else {
          ObjectNode r = base("chat.completion", model);
          ObjectNode choice = r.putArray("choices").addObject();
          choice.put("index", 0);
          ObjectNode msg = choice.putObject("message");
          msg.put("role", "assistant");
          msg.put("content", text);
          msg.putNull("refusal");
          choice.putNull("logprobs");
          choice.put("finish_reason", "stop");
          usage(r, 12, 5);
          send(ex, 200, "application/json", r.toString());
        }
      }
      case "/v1/completions" -> {
        ObjectNode r = base("text_completion", model);
        ObjectNode choice = r.putArray("choices").addObject();
        choice.put("index", 0);
        choice.put("text", text);
        choice.putNull("logprobs");
        choice.put("finish_reason", "stop");
        usage(r, 4, 5);
        send(ex, 200, "application/json", r.toString());
      }
      case "/v1/embeddings" -> {
        ObjectNode r = JSON.createObjectNode();
        r.put("object", "list");
        ArrayNode data = r.putArray("data");
        int inputs = request.path("input").isArray() ? request.path("input").size() : 1;
        for (int i = 0; i < inputs; i++) {
          ObjectNode e = data.addObject();
          e.put("object", "embedding");
          e.put("index", i);
          ArrayNode v = e.putArray("embedding");
          for (int k = 0; k < 8; k++) {
            v.add(0.125 * k);
          }
        }
        r.put("model", model);
        ObjectNode u = r.putObject("usage");
        u.put("prompt_tokens", 3 * inputs);
        u.put("total_tokens", 3 * inputs);
        send(ex, 200, "application/json", r.toString());
      }
      default -> send(ex, 404, "application/json",
          "{\"error\":{\"message\":\"no route " + p + "\",\"type\":\"invalid_request_error\"}}");
    }
  }

  /** The SSE chunks of a streamed chat completion, as OpenAI sends them. */
  public static List<String> chatChunks(String model, String text, boolean includeUsage) {
    List<String> chunks = new ArrayList<>();
    String[] words = text.split("(?<= )");
    ObjectNode first = chunk(model);
    first.withArray("choices").addObject().put("index", 0).putObject("delta").put("role", "assistant").put("content", "");
    chunks.add("data: " + first + "\n\n");
    for (String w : words) {
      ObjectNode c = chunk(model);
      c.withArray("choices").addObject().put("index", 0).putObject("delta").put("content", w);
      chunks.add("data: " + c + "\n\n");
    }
    ObjectNode last = chunk(model);
    ObjectNode choice = last.withArray("choices").addObject().put("index", 0);
    choice.putObject("delta");
    choice.put("finish_reason", "stop");
    chunks.add("data: " + last + "\n\n");
    if (includeUsage) {
      ObjectNode u = chunk(model);
      u.putArray("choices");
      usage(u, 12, words.length);
      chunks.add("data: " + u + "\n\n");
    }
    chunks.add("data: [DONE]\n\n");
    return chunks;
  }

  private static ObjectNode chunk(String model) {
    ObjectNode c = base("chat.completion.chunk", model);
    c.putArray("choices");
    return c;
  }

  private static ObjectNode base(String object, String model) {
    ObjectNode r = JSON.createObjectNode();
    r.put("id", "chatcmpl-scripted");
    r.put("object", object);
    r.put("created", 1_700_000_000L);
    r.put("model", model);
    return r;
  }

  private static void usage(ObjectNode r, int prompt, int completion) {
    ObjectNode u = r.putObject("usage");
    u.put("prompt_tokens", prompt);
    u.put("completion_tokens", completion);
    u.put("total_tokens", prompt + completion);
  }

  static void stream(HttpExchange ex, List<String> chunks, Duration pause) throws IOException {
    ex.getResponseHeaders().set("content-type", "text/event-stream; charset=utf-8");
    ex.getResponseHeaders().set("cache-control", "no-cache");
    ex.sendResponseHeaders(200, 0);
    try (OutputStream out = ex.getResponseBody()) {
      for (String c : chunks) {
        out.write(c.getBytes(StandardCharsets.UTF_8));
        out.flush();
        sleep(pause);
      }
    }
  }

  static void send(HttpExchange ex, int status, String type, String body) throws IOException {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    ex.getResponseHeaders().set("content-type", type);
    ex.sendResponseHeaders(status, bytes.length);
    try (OutputStream out = ex.getResponseBody()) {
      out.write(bytes);
    }
  }

  private static void sleep(Duration d) {
    if (d.isZero()) {
      return;
    }
    try {
      TimeUnit.MILLISECONDS.sleep(d.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  @Override
  public void close() {
    closed.countDown();
    server.stop(0);
  }
}
