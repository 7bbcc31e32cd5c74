package dev.weir.extproc.mcp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.protobuf.ByteString;
import dev.weir.config.Wire;
import dev.weir.config.v1.FailureMode;
import dev.weir.extproc.GatewayRuntime;
import dev.weir.extproc.auth.Authenticator;
import dev.weir.extproc.limits.LimitStore;
import dev.weir.extproc.openai.Json;
import dev.weir.extproc.openai.SseParser;
import dev.weir.extproc.session.Exchange;
import dev.weir.extproc.session.GatewayHeaders;
import dev.weir.extproc.session.Messages;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.CommonResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HeaderMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The router pass over one MCP exchange (Streamable HTTP): authenticates the consumer (Weir key, or
 * a JWT issued for the server when it is an OAuth protected resource), checks the request's
 * JSON-RPC message (header/body agreement, the consumer's tool lists, calls-per-minute limits),
 * sends it to the server's route with the server's own credential, and reads the answer, JSON or
 * SSE, to filter {@code tools/list} results and to record each call's outcome.
 *
 * <p>Policy refusals of a request are JSON-RPC errors with the request's id, so MCP clients surface
 * them as the call's error: a denied tool is HTTP 200 with an error, a limited call HTTP 429 with
 * {@code Retry-After}, a header/body mismatch HTTP 400 with {@code HeaderMismatch} (-32020).
 */
public final class McpExchange implements Exchange {
  private static final ProcessingMode STREAM_RESPONSE_BODY = ProcessingMode.newBuilder()
      .setResponseHeaderMode(ProcessingMode.HeaderSendMode.SEND)
      .setResponseBodyMode(ProcessingMode.BodySendMode.STREAMED)
      .build();

  private static final Logger log = LoggerFactory.getLogger(McpExchange.class);
  /** Streamable HTTP's session header, as HTTP/2 (and so ext_proc) spells it. */
  private static final String SESSION_HEADER = "mcp-session-id";

  private final GatewayRuntime gateway;
  private final McpServers.Target target;
  private final long startedNanos = System.nanoTime();
  private McpServers.Server server;
  private String consumer = "";
  private ToolPolicy policy;
  private Map<String, String> requestHeaders = Map.of();
  private long sessionHeaders;
  private JsonRpc.Message message;
  private String tool;
  private String outcome = "ok";
  private int status;
  private boolean filterTools;
  private boolean streaming;
  private SseParser sse;
  private ByteString buffered = ByteString.EMPTY;
  private long requestBytes;
  private long responseBytes;
  private boolean recorded;
  private final ToolSafety safety;

  public McpExchange(GatewayRuntime gateway, McpServers.Target target) {
    this.gateway = gateway;
    this.target = target;
    this.safety = new ToolSafety(gateway);
  }

  @Override
  public ProcessingResponse handle(ProcessingRequest message) {
    return switch (message.getRequestCase()) {
      case REQUEST_HEADERS -> onRequestHeaders(message.getRequestHeaders());
      case REQUEST_BODY -> onRequestBody(message.getRequestBody());
      case RESPONSE_HEADERS -> onResponseHeaders(message.getResponseHeaders());
      case RESPONSE_BODY -> onResponseBody(message.getResponseBody());
      default -> Messages.continueUnchanged(message);
    };
  }

  private ProcessingResponse onRequestHeaders(HttpHeaders message) {
    requestHeaders = Messages.headers(message.getHeaders());
    sessionHeaders = message.getHeaders().getHeadersList().stream()
        .filter(h -> h.getKey().equalsIgnoreCase(SESSION_HEADER)).count();
    String method = requestHeaders.getOrDefault(":method", "");
    if (target instanceof McpServers.Metadata meta) {
      server = meta.server();
      if (!method.equals("GET")) {
        return refuse(405, null, JsonRpc.INVALID_REQUEST, "Use GET for the protected resource metadata.", Map.of(),
            "method_not_allowed");
      }
      outcome = "metadata";
      return answer(200, meta.server().metadata(), Map.of("cache-control", "max-age=300"));
    }
    McpServers.Endpoint endpoint = (McpServers.Endpoint) target;
    server = endpoint.server();
    boolean oauth = server.config().hasOauth();
    Authenticator.Result auth = gateway.authenticator().authenticate(requestHeaders.get("authorization"),
        requestHeaders.getOrDefault("api-key", requestHeaders.get("x-api-key")),
        oauth ? server.config().getOauth().getResource() : null);
    if (auth instanceof Authenticator.Rejected rejected) {
      Map<String, String> headers = new LinkedHashMap<>();
      int code = rejected.error().status();
      if (oauth && code == 401) {
        // MCP authorization: a 401 names the protected resource metadata (RFC 9728 section 5.1).
        boolean presented = requestHeaders.containsKey("authorization");
        headers.put("www-authenticate", server.challenge(presented ? "invalid_token" : null));
      }
      return refuse(code, null, JsonRpc.INVALID_REQUEST, rejected.error().message(), headers,
          code == 401 ? "unauthenticated" : "forbidden");
    }
    consumer = ((Authenticator.Authenticated) auth).caller().name();
    policy = gateway.mcp().policy(consumer, server.name());
    if (policy == null) {
      return refuse(403, null, JsonRpc.INVALID_REQUEST, "Consumer \"" + consumer + "\" has no access to MCP server \""
          + server.name() + "\".", Map.of(), "forbidden");
    }
    if (!(method.equals("POST") || method.equals("GET") || method.equals("DELETE"))) {
      return refuse(405, null, JsonRpc.INVALID_REQUEST, "MCP's Streamable HTTP uses POST, GET and DELETE.",
          Map.of("allow", "POST, GET, DELETE"), "method_not_allowed");
    }
    if (server.rest() != null) {
      // The gateway is this server: it answers every message at the body phase, with no stream
      // to GET and no session to DELETE (as a stateless server does).
      if (method.equals("POST") && message.getEndOfStream()) {
        return refuse(400, null, JsonRpc.INVALID_REQUEST, "A POST carries one JSON-RPC message.", Map.of(), "bad_request");
      }
      return method.equals("POST") ? Messages.requestHeaders(CommonResponse.getDefaultInstance())
          : refuse(405, null, JsonRpc.INVALID_REQUEST, "This MCP server is stateless: POST each message.",
              Map.of("allow", "POST"), "method_not_allowed");
    }
    if (sessionHeaders > 1) {
      // Envoy forwards every copy while the check below reads one: the server could be handed
      // a session id that was never checked against the consumer.
      return refuse(400, null, JsonRpc.INVALID_REQUEST, "A request carries at most one Mcp-Session-Id header.",
          Map.of(), "bad_request");
    }
    String session = requestHeaders.get(SESSION_HEADER);
    if (session != null) {
      McpSessions.Check check = gateway.mcpSessions().check(server.name(), session, consumer);
      if (check == McpSessions.Check.STORE_DOWN && server.config().getOnStoreFailure() != FailureMode.OPEN) {
        return refuse(503, null, JsonRpc.INTERNAL_ERROR, "The gateway cannot check the session right now; try again"
            + " shortly.", Map.of("retry-after", "1"), "store_unavailable");
      }
      if (check == McpSessions.Check.NOT_FOUND) {
        // 404, as for a session the server ended: whether the id is another consumer's stays
        // unsaid, and the client's answer to a 404 is a new initialize (Streamable HTTP).
        return refuse(404, null, JsonRpc.SESSION_NOT_FOUND, "Session not found.", Map.of(), "session_not_found");
      }
    }
    HeaderMutation.Builder mutation = HeaderMutation.newBuilder();
    // The client's credential never reaches the server (MCP authorization: no token passthrough).
    for (String h : new String[] {"authorization", "api-key", "x-api-key"}) {
      mutation.addRemoveHeaders(h);
    }
    GatewayHeaders.INTERNAL.forEach(mutation::addRemoveHeaders);
    String fullPath = requestHeaders.getOrDefault(":path", "/");
    int q = fullPath.indexOf('?');
    mutation.addSetHeaders(Messages.set(":path", endpoint.upstreamPath() + (q < 0 ? "" : fullPath.substring(q))));
    mutation.addSetHeaders(Messages.set(Wire.MCP_SERVER_HEADER, server.name()));
    if (server.credential() != null) {
      try {
        mutation.addSetHeaders(Messages.set(server.credential().header(), server.credential().value()));
      } catch (UpstreamCredential.Unavailable e) {
        return refuse(503, null, JsonRpc.INTERNAL_ERROR, "The gateway cannot get a credential for MCP server \""
            + server.name() + "\" right now: " + e.getMessage(), Map.of("retry-after", "5"), "credential_unavailable");
      }
    }
    return Messages.requestHeaders(CommonResponse.newBuilder().setHeaderMutation(mutation).setClearRouteCache(true).build());
  }

  private ProcessingResponse onRequestBody(HttpBody body) {
    if (policy == null) {
      return refuse(500, null, JsonRpc.INTERNAL_ERROR, "request body arrived before its headers were accepted",
          Map.of(), "error");
    }
    byte[] bytes = body.getBody().toByteArray();
    requestBytes = bytes.length;
    if (bytes.length > gateway.maxRequestBytes()) {
      return refuse(413, null, JsonRpc.INVALID_REQUEST, "The message is larger than extProc.maxRequestBytes.", Map.of(),
          "too_large");
    }
    try {
      message = JsonRpc.parse(bytes);
    } catch (JsonRpc.Malformed e) {
      return refuse(400, null, e.code(), e.getMessage(), Map.of(), "bad_request");
    }
    String mismatch = HeaderCheck.problem(requestHeaders, message);
    if (mismatch != null) {
      return refuse(400, message.id(), JsonRpc.HEADER_MISMATCH, mismatch, Map.of(), "header_mismatch");
    }
    if ("tools/call".equals(message.method()) || server.rest() != null) {
      if (message.method() == null || message.id() == null) {
        // A notification (or a client's response) needs no answer but "accepted".
        return server.rest() != null ? answer(202, new byte[0], Map.of()) : Messages.requestBody(CommonResponse.getDefaultInstance());
      }
    }
    if ("tools/call".equals(message.method())) {
      tool = message.name();
      if (tool == null) {
        return refuse(200, message.id(), JsonRpc.INVALID_PARAMS, "tools/call needs params.name.", Map.of(), "bad_request");
      }
      if (!policy.allows(tool)) {
        return refuse(200, message.id(), JsonRpc.TOOL_DENIED, "Tool \"" + clip(tool) + "\" of MCP server \""
            + server.name() + "\" is not allowed for consumer \"" + consumer + "\".", Map.of(), "denied");
      }
      CallLimits.Verdict verdict = gateway.mcpLimits().admit(server, consumer, policy, tool);
      if (verdict instanceof CallLimits.Refused r) {
        ObjectNode data = Json.MAPPER.createObjectNode().put("retryAfterSeconds", r.retryAfterSeconds());
        return r.storeDown()
            ? refuse(503, message.id(), JsonRpc.INTERNAL_ERROR, "The gateway cannot check the calls-per-minute limit of "
                + r.limit() + " right now; try again shortly.", Map.of("retry-after", "1"), "store_unavailable")
            : refuse(429, message.id(), JsonRpc.RATE_LIMITED, "Calls-per-minute limit of " + r.limit()
                + " reached; retry after " + r.retryAfterSeconds() + " s.", data,
                Map.of("retry-after", Long.toString(r.retryAfterSeconds())), "rate_limited");
      }
      String blocked = safety.checkArguments(consumer, message.params().get("arguments"));
      if (blocked != null) {
        return refuse(200, message.id(), JsonRpc.BLOCKED, blocked, Map.of(), "blocked");
      }
    } else if ("tools/list".equals(message.method())) {
      filterTools = true;
    }
    if (server.rest() != null) {
      return restAnswer();
    }
    return Messages.requestBody(CommonResponse.getDefaultInstance());
  }

  private ProcessingResponse onResponseHeaders(HttpHeaders message) {
    Map<String, String> headers = Messages.headers(message.getHeaders());
    status = parseStatus(headers.get(":status"));
    String contentType = headers.getOrDefault("content-type", "");
    if (status >= 400 && "ok".equals(outcome)) {
      outcome = "upstream_" + (status >= 500 ? "5xx" : "4xx");
    }
    String opened = headers.get(SESSION_HEADER);
    if (opened != null && status < 400 && !requestHeaders.containsKey(SESSION_HEADER)) {
      try {
        gateway.mcpSessions().bind(server.name(), opened, consumer);
      } catch (LimitStore.UnavailableException e) {
        // The answer is already the client's; its next request finds no binding and is refused
        // (404: it initializes again) or, with the store still down, meets onStoreFailure.
        log.warn("cannot record the MCP session of consumer {} on server {}: {}", consumer, server.name(),
            e.getMessage());
      }
    }
    if (message.getEndOfStream()) {
      return Messages.responseHeaders(CommonResponse.getDefaultInstance());
    }
    if (contentType.startsWith("text/event-stream")) {
      streaming = true;
      sse = new SseParser(gateway.maxRequestBytes());
      return Messages.responseHeaders(CommonResponse.getDefaultInstance(), STREAM_RESPONSE_BODY);
    }
    return Messages.responseHeaders(CommonResponse.getDefaultInstance());
  }

  private ProcessingResponse onResponseBody(HttpBody message) {
    responseBytes += message.getBody().size();
    if (streaming) {
      return onStreamChunk(message);
    }
    buffered = buffered.concat(message.getBody());
    if (!message.getEndOfStream()) {
      return Messages.responseBody(CommonResponse.getDefaultInstance());
    }
    String replaced = status == 200 ? inspect(buffered.toStringUtf8()) : null;
    if (replaced == null) {
      return Messages.responseBody(CommonResponse.getDefaultInstance());
    }
    return Messages.responseBody(Messages.replaceBody(replaced.getBytes(StandardCharsets.UTF_8),
        HeaderMutation.newBuilder()));
  }

  private ProcessingResponse onStreamChunk(HttpBody message) {
    var events = new java.util.ArrayList<>(sse.feed(message.getBody().toByteArray()));
    if (message.getEndOfStream()) {
      events.addAll(sse.finish());
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream(message.getBody().size());
    for (SseParser.Event event : events) {
      String replaced = event.data() == null ? null : inspect(event.data());
      out.writeBytes(replaced == null ? event.raw() : withData(event.raw(), replaced));
    }
    // Whole events only: a partial one waits for the chunk that completes it.
    return Messages.responseBody(CommonResponse.newBuilder()
        .setBodyMutation(BodyMutation.newBuilder().setBody(ByteString.copyFrom(out.toByteArray()))).build());
  }

  /**
   * Reads one JSON-RPC message of the answer: the response to this exchange's request is checked
   * (tools/list filtered, tools/call outcome recorded, results scanned). Returns its replacement,
   * or null to pass it on as it is.
   */
  private String inspect(String data) {
    if (message == null || message.id() == null) {
      return null;
    }
    JsonNode node;
    try {
      node = Json.MAPPER.readTree(data);
    } catch (IOException e) {
      return null;
    }
    if (node == null || !node.isObject() || !message.id().equals(node.get("id")) || node.has("method")) {
      return null;
    }
    if (node.has("error")) {
      outcome = "rpc_error";
      return null;
    }
    JsonNode result = node.get("result");
    if (result == null || !result.isObject()) {
      return null;
    }
    if (filterTools && result.get("tools") instanceof ArrayNode tools) {
      ArrayNode kept = Json.MAPPER.createArrayNode();
      for (JsonNode t : tools) {
        String name = t.path("name").asText(null);
        server.learnTool(name);
        if (policy.allows(name)) {
          kept.add(t);
        }
      }
      if (kept.size() != tools.size()) {
        ((ObjectNode) result).set("tools", kept);
        return new String(Json.bytes(node), StandardCharsets.UTF_8);
      }
      return null;
    }
    if (tool != null) {
      if (result.path("isError").asBoolean(false)) {
        outcome = "tool_error";
      }
      String blocked = safety.checkResult(consumer, result);
      if (blocked != null) {
        outcome = "blocked";
        return new String(JsonRpc.error(message.id(), JsonRpc.BLOCKED, blocked, null), StandardCharsets.UTF_8);
      }
    }
    return null;
  }

  /** The answer of a REST API served as MCP: the gateway is the server here. */
  private ProcessingResponse restAnswer() {
    RestTools rest = server.rest();
    ObjectNode result = Json.MAPPER.createObjectNode();
    switch (message.method()) {
      case "initialize" -> {
        String asked = message.params() == null ? "" : message.params().path("protocolVersion").asText("");
        result.put("protocolVersion", RestTools.SUPPORTED_VERSIONS.contains(asked) ? asked : RestTools.LATEST_VERSION);
        result.putObject("capabilities").putObject("tools").put("listChanged", false);
        result.putObject("serverInfo").put("name", server.name()).put("version", "weir");
      }
      case "ping" -> { }
      case "tools/list" -> {
        ArrayNode tools = result.putArray("tools");
        rest.names().stream().filter(policy::allows).forEach(n -> tools.add(rest.tool(n)));
      }
      case "tools/call" -> {
        if (!rest.has(tool)) {
          return refuse(200, message.id(), JsonRpc.INVALID_PARAMS, "Unknown tool: " + clip(tool), Map.of(), "bad_request");
        }
        String[] credential = null;
        if (server.credential() != null) {
          try {
            credential = new String[] {server.credential().header(), server.credential().value()};
          } catch (UpstreamCredential.Unavailable e) {
            return refuse(503, message.id(), JsonRpc.INTERNAL_ERROR, "The gateway cannot get a credential for \""
                + server.name() + "\" right now: " + e.getMessage(), Map.of("retry-after", "5"), "credential_unavailable");
          }
        }
        result = rest.call(tool, message.params().get("arguments"), credential);
        if (result.path("isError").asBoolean(false)) {
          outcome = "tool_error";
        }
        String blocked = safety.checkResult(consumer, result);
        if (blocked != null) {
          return refuse(200, message.id(), JsonRpc.BLOCKED, blocked, Map.of(), "blocked");
        }
      }
      default -> {
        return refuse(200, message.id(), JsonRpc.METHOD_NOT_FOUND, "Method not found: " + clip(message.method())
            + " (this server has tools only).", Map.of(), "bad_request");
      }
    }
    ObjectNode response = Json.MAPPER.createObjectNode().put("jsonrpc", "2.0");
    response.set("id", message.id());
    response.set("result", result);
    return answer(200, Json.bytes(response), Map.of());
  }

  /** The event's bytes with its data lines replaced by one line of {@code data}. */
  static byte[] withData(byte[] raw, String data) {
    String text = new String(raw, StandardCharsets.UTF_8);
    StringBuilder out = new StringBuilder(text.length() + 16);
    boolean written = false;
    for (String line : text.split("\r\n|\r|\n", -1)) {
      if (line.startsWith("data:")) {
        if (!written) {
          out.append("data: ").append(data).append('\n');
          written = true;
        }
      } else if (!line.isEmpty()) {
        out.append(line).append('\n');
      }
    }
    return out.append('\n').toString().getBytes(StandardCharsets.UTF_8);
  }

  @Override
  public void end(boolean aborted) {
    if (recorded || server == null) {
      return;
    }
    recorded = true;
    if (aborted && "ok".equals(outcome)) {
      outcome = "aborted";
    }
    McpTelemetry.Record r = new McpTelemetry.Record(server.name(), consumer, message == null ? method() : message.method(),
        server.toolLabel(tool), outcome, status, requestBytes, responseBytes, System.nanoTime() - startedNanos);
    gateway.mcpTelemetry().record(r);
    gateway.mcpTelemetry().audit(r, tool == null ? null : clip(tool));
  }

  /** A GET (stream) or DELETE (end of session) has no JSON-RPC method. */
  private String method() {
    String m = requestHeaders.getOrDefault(":method", "");
    return m.equals("GET") || m.equals("DELETE") ? m : null;
  }

  private ProcessingResponse refuse(int code, JsonNode id, int rpcCode, String text, Map<String, String> headers,
      String why) {
    return refuse(code, id, rpcCode, text, null, headers, why);
  }

  private ProcessingResponse refuse(int code, JsonNode id, int rpcCode, String text, JsonNode data,
      Map<String, String> headers, String why) {
    outcome = why;
    return answer(code, JsonRpc.error(id, rpcCode, text, data), headers);
  }

  private ProcessingResponse answer(int code, byte[] body, Map<String, String> headers) {
    status = code;
    responseBytes = body.length;
    return Messages.immediate(code, body, "weir_mcp_" + outcome, headers);
  }

  private static String clip(String s) {
    String safe = s.replaceAll("[\\p{Cntrl}]", "?");
    return safe.length() > 128 ? safe.substring(0, 128) + "…" : safe;
  }

  private static int parseStatus(String s) {
    try {
      return s == null ? 0 : Integer.parseInt(s.trim());
    } catch (NumberFormatException e) {
      return 0;
    }
  }
}
