package dev.weir.extproc.mcp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weir.config.v1.McpServer;
import dev.weir.extproc.openai.Json;
import io.swagger.v3.oas.models.OpenAPI;
import io.swagger.v3.oas.models.Operation;
import io.swagger.v3.oas.models.PathItem;
import io.swagger.v3.oas.models.media.MediaType;
import io.swagger.v3.oas.models.parameters.Parameter;
import io.swagger.v3.parser.OpenAPIV3Parser;
import io.swagger.v3.parser.core.models.ParseOptions;
import io.swagger.v3.parser.core.models.SwaggerParseResult;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A REST API as MCP tools: each listed operation of its OpenAPI 3 document (read with
 * swagger-parser, references resolved) becomes a tool named by its operationId, whose input schema
 * has one property per path, query and header parameter, and {@code body} for a JSON request
 * body. A call becomes one HTTP request to the API (the server's url is its base URL) with the
 * server's credential; the answer becomes the tool result, an error status a tool error
 * ({@code isError: true}) carrying the API's own message.
 *
 * <p>The call is made here, on the gRPC thread that handles the exchange (grpc-java's default
 * executor, not the event loop), bounded by {@code rest.timeoutSeconds}.
 */
public final class RestTools {
  /** The session-era revisions answered to initialize; another asked version gets the latest. */
  static final java.util.Set<String> SUPPORTED_VERSIONS = java.util.Set.of("2025-03-26", "2025-06-18", "2025-11-25");
  static final String LATEST_VERSION = "2025-11-25";

  /** One exported operation. */
  record Op(String name, String method, String path, List<Parameter> parameters, boolean jsonBody, ObjectNode tool) {}

  /** The document or an operation cannot be used: the config is refused (at start or reload). */
  public static final class InvalidApi extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    InvalidApi(String message) {
      super(message);
    }
  }

  private final Map<String, Op> ops = new LinkedHashMap<>();
  private final String baseUrl;
  private final Duration timeout;
  private final HttpClient http;

  RestTools(McpServer server, HttpClient http) throws InvalidApi {
    this.baseUrl = server.getUrl().endsWith("/") ? server.getUrl().substring(0, server.getUrl().length() - 1)
        : server.getUrl();
    this.timeout = Duration.ofSeconds(server.getRest().getTimeoutSeconds());
    this.http = http;
    ParseOptions options = new ParseOptions();
    options.setResolve(true);
    options.setResolveFully(true);
    SwaggerParseResult parsed = new OpenAPIV3Parser().readLocation(server.getRest().getOpenapi(), null, options);
    OpenAPI api = parsed.getOpenAPI();
    if (api == null || api.getPaths() == null) {
      throw new InvalidApi("mcpServers \"" + server.getName() + "\": " + server.getRest().getOpenapi()
          + " is not an OpenAPI 3 document: " + parsed.getMessages());
    }
    Map<String, Op> all = new LinkedHashMap<>();
    api.getPaths().forEach((path, item) -> item.readOperationsMap().forEach((method, op) -> {
      if (op.getOperationId() != null) {
        all.put(op.getOperationId(), op(op, method, path, item));
      }
    }));
    for (String name : server.getRest().getOperationsList()) {
      Op op = all.get(name);
      if (op == null) {
        throw new InvalidApi("mcpServers \"" + server.getName() + "\": no operation \"" + name + "\" in "
            + server.getRest().getOpenapi() + " (it has " + all.keySet() + ")");
      }
      ops.put(name, op);
    }
  }

  private static Op op(Operation op, PathItem.HttpMethod method, String path, PathItem item) {
    List<Parameter> parameters = new ArrayList<>();
    if (item.getParameters() != null) {
      parameters.addAll(item.getParameters());
    }
    if (op.getParameters() != null) {
      parameters.addAll(op.getParameters());
    }
    ObjectNode schema = Json.MAPPER.createObjectNode().put("type", "object");
    ObjectNode properties = schema.putObject("properties");
    ArrayNode required = Json.MAPPER.createArrayNode();
    for (Parameter p : parameters) {
      ObjectNode ps = p.getSchema() == null ? Json.MAPPER.createObjectNode()
          : io.swagger.v3.core.util.Json.mapper().valueToTree(p.getSchema());
      if (p.getDescription() != null) {
        ps.put("description", p.getDescription());
      }
      properties.set(p.getName(), ps);
      if (Boolean.TRUE.equals(p.getRequired())) {
        required.add(p.getName());
      }
    }
    MediaType body = op.getRequestBody() == null || op.getRequestBody().getContent() == null ? null
        : op.getRequestBody().getContent().get("application/json");
    if (body != null) {
      properties.set("body", body.getSchema() == null ? Json.MAPPER.createObjectNode()
          : io.swagger.v3.core.util.Json.mapper().valueToTree(body.getSchema()));
      if (Boolean.TRUE.equals(op.getRequestBody().getRequired())) {
        required.add("body");
      }
    }
    if (!required.isEmpty()) {
      schema.set("required", required);
    }
    String description = op.getSummary() != null ? op.getSummary() : op.getDescription();
    ObjectNode tool = Json.MAPPER.createObjectNode().put("name", op.getOperationId());
    if (description != null) {
      tool.put("description", description);
    }
    tool.set("inputSchema", schema);
    return new Op(op.getOperationId(), method.name(), path, parameters, body != null, tool);
  }

  List<String> names() {
    return List.copyOf(ops.keySet());
  }

  /** The tool definition of an operation. */
  ObjectNode tool(String name) {
    return ops.get(name).tool();
  }

  boolean has(String name) {
    return ops.containsKey(name);
  }

  /**
   * Calls the operation with the tool's arguments; returns the MCP tool result.
   *
   * @param credential the header name and value to send, or null
   */
  ObjectNode call(String name, JsonNode arguments, String[] credential) {
    Op op = ops.get(name);
    JsonNode args = arguments == null || !arguments.isObject() ? Json.MAPPER.createObjectNode() : arguments;
    String path = op.path();
    StringBuilder query = new StringBuilder();
    HttpRequest.Builder request = HttpRequest.newBuilder().timeout(timeout).header("accept", "application/json");
    for (Parameter p : op.parameters()) {
      JsonNode v = args.get(p.getName());
      if (v == null || v.isNull()) {
        if (Boolean.TRUE.equals(p.getRequired())) {
          return toolError("Missing required argument \"" + p.getName() + "\".");
        }
        continue;
      }
      String value = v.isValueNode() ? v.asText() : v.toString();
      switch (p.getIn()) {
        case "path" -> path = path.replace("{" + p.getName() + "}", URLEncoder.encode(value, StandardCharsets.UTF_8)
            .replace("+", "%20"));
        case "query" -> query.append(query.isEmpty() ? '?' : '&').append(URLEncoder.encode(p.getName(), StandardCharsets.UTF_8))
            .append('=').append(URLEncoder.encode(value, StandardCharsets.UTF_8));
        case "header" -> {
          if (value.indexOf('\r') >= 0 || value.indexOf('\n') >= 0) {
            return toolError("Argument \"" + p.getName() + "\" cannot be a header value.");
          }
          request.header(p.getName(), value);
        }
        default -> { } // cookie parameters are not sent
      }
    }
    if (credential != null) {
      request.header(credential[0], credential[1]);
    }
    HttpRequest.BodyPublisher publisher = HttpRequest.BodyPublishers.noBody();
    if (op.jsonBody() && args.has("body")) {
      publisher = HttpRequest.BodyPublishers.ofByteArray(Json.bytes(args.get("body")));
      request.header("content-type", "application/json");
    }
    HttpResponse<byte[]> response;
    try {
      response = http.send(request.uri(URI.create(baseUrl + path + query)).method(op.method(), publisher).build(),
          HttpResponse.BodyHandlers.ofByteArray());
    } catch (IOException e) {
      return toolError("The API could not be reached: " + e.getClass().getSimpleName());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return toolError("Interrupted.");
    }
    String text = new String(response.body(), StandardCharsets.UTF_8);
    int status = response.statusCode();
    if (status < 200 || status >= 300) {
      return toolError("The API answered " + status + (text.isBlank() ? "." : ": " + text));
    }
    ObjectNode result = Json.MAPPER.createObjectNode();
    result.putArray("content").addObject().put("type", "text").put("text", text.isEmpty() ? "HTTP " + status : text);
    try {
      JsonNode json = text.isBlank() ? null : Json.MAPPER.readTree(text);
      if (json != null && json.isObject()) {
        result.set("structuredContent", json);
      }
    } catch (IOException e) {
      // not JSON: the text content carries it
    }
    return result.put("isError", false);
  }

  private static ObjectNode toolError(String message) {
    ObjectNode result = Json.MAPPER.createObjectNode();
    result.putArray("content").addObject().put("type", "text").put("text", message);
    return result.put("isError", true);
  }
}
