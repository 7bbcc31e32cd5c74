package dev.weir.extproc.mcp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weir.extproc.openai.Json;
import java.io.IOException;

/**
 * JSON-RPC 2.0 as MCP carries it: reading one message and writing error responses. The codes are
 * JSON-RPC's own (-32700 parse error, -32600 invalid request, -32602 invalid params, -32603
 * internal error) and MCP's {@code HeaderMismatch} (-32020, Streamable HTTP revision 2026-07-28,
 * "Server Validation"); the gateway's policy refusals use the implementation-defined server
 * error range (-32000 to -32099).
 */
public final class JsonRpc {
  public static final int PARSE_ERROR = -32700;
  public static final int INVALID_REQUEST = -32600;
  public static final int METHOD_NOT_FOUND = -32601;
  public static final int INVALID_PARAMS = -32602;
  public static final int INTERNAL_ERROR = -32603;
  public static final int HEADER_MISMATCH = -32020;
  /** The consumer may not call this tool. */
  public static final int TOOL_DENIED = -32003;
  /** A calls-per-minute limit refused the call. */
  public static final int RATE_LIMITED = -32029;
  /** Content safety blocked the arguments or the result. */
  public static final int BLOCKED = -32004;
  /** The session is not known to this consumer (the MCP SDKs' "Session not found"). */
  public static final int SESSION_NOT_FOUND = -32001;

  private JsonRpc() {}

  /** One message of a POST body; {@code id} is null for a notification. */
  public record Message(JsonNode id, String method, JsonNode params, ObjectNode node) {
    public boolean isRequest() {
      return method != null && id != null;
    }

    /** {@code params.name} (tools/call, prompts/get) or {@code params.uri} (resources/read), else null. */
    public String name() {
      if (params == null) {
        return null;
      }
      JsonNode n = params.has("name") ? params.get("name") : params.get("uri");
      return n != null && n.isTextual() ? n.asText() : null;
    }
  }

  /** Thrown for a body that is not one JSON-RPC message. */
  public static final class Malformed extends Exception {
    private static final long serialVersionUID = 1L;
    private final int code;

    Malformed(int code, String message) {
      super(message);
      this.code = code;
    }

    public int code() {
      return code;
    }
  }

  public static Message parse(byte[] body) throws Malformed {
    JsonNode node;
    try {
      node = Json.MAPPER.readTree(body);
    } catch (IOException e) {
      throw new Malformed(PARSE_ERROR, "The body is not JSON.");
    }
    if (node == null || node.isArray()) {
      // Batches were removed in revision 2025-06-18; one POST carries one message.
      throw new Malformed(INVALID_REQUEST, "The body must be one JSON-RPC message (batches are not accepted).");
    }
    if (!node.isObject() || !"2.0".equals(node.path("jsonrpc").asText(null))) {
      throw new Malformed(INVALID_REQUEST, "The body is not a JSON-RPC 2.0 message.");
    }
    JsonNode method = node.get("method");
    if (method != null && !method.isTextual()) {
      throw new Malformed(INVALID_REQUEST, "\"method\" must be a string.");
    }
    JsonNode id = node.get("id");
    if (id != null && (id.isNull() || !(id.isTextual() || id.isIntegralNumber()))) {
      throw new Malformed(INVALID_REQUEST, "\"id\" must be a string or an integer.");
    }
    JsonNode params = node.get("params");
    return new Message(id, method == null ? null : method.asText(), params != null && params.isObject() ? params : null,
        (ObjectNode) node);
  }

  /** An error response to {@code id} (null: none known), with optional {@code data}. */
  public static byte[] error(JsonNode id, int code, String message, JsonNode data) {
    ObjectNode out = Json.MAPPER.createObjectNode().put("jsonrpc", "2.0");
    if (id == null) {
      out.putNull("id");
    } else {
      out.set("id", id);
    }
    ObjectNode error = out.putObject("error").put("code", code).put("message", message);
    if (data != null) {
      error.set("data", data);
    }
    return Json.bytes(out);
  }
}
