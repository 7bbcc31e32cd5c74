package dev.weir.extproc.openai;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;

/**
 * An error answer in OpenAI's shape ({@code {"error":{"message","type","param","code"}}}) so that
 * every OpenAI SDK surfaces it as a typed exception with our message.
 */
public record ApiError(int status, String type, String code, String message) {

  public static ApiError badRequest(String code, String message) {
    return new ApiError(400, "invalid_request_error", code, message);
  }

  public static ApiError unauthorized(String code, String message) {
    return new ApiError(401, "invalid_request_error", code, message);
  }

  public static ApiError forbidden(String code, String message) {
    return new ApiError(403, "permission_error", code, message);
  }

  public static ApiError notFound(String code, String message) {
    return new ApiError(404, "invalid_request_error", code, message);
  }

  /** A backend's stream that ended before its closing event: the answer is incomplete. */
  public static ApiError streamCut() {
    return new ApiError(502, "server_error", "stream_interrupted",
        "The backend's stream ended before the answer was complete; the answer is incomplete.");
  }

  public static ApiError internal(String message) {
    return new ApiError(500, "server_error", "internal_error", message);
  }

  /**
   * Reads back an error in OpenAI's shape (one the gateway made, or an OpenAI-speaking backend's);
   * a body that is not one becomes an error with a message naming the status.
   */
  public static ApiError parse(int status, byte[] json) {
    com.fasterxml.jackson.databind.JsonNode error;
    try {
      error = Json.MAPPER.readTree(json).path("error");
    } catch (java.io.IOException | RuntimeException e) {
      error = com.fasterxml.jackson.databind.node.MissingNode.getInstance();
    }
    String message = error.path("message").asText("");
    return new ApiError(status, error.path("type").asText(status >= 500 ? "server_error" : "invalid_request_error"),
        error.path("code").asText(Integer.toString(status)),
        message.isEmpty() ? "The gateway answered " + status + "." : message);
  }

  public byte[] toJson() {
    ObjectNode root = Json.MAPPER.createObjectNode();
    ObjectNode error = root.putObject("error");
    error.put("message", message);
    error.put("type", type);
    error.putNull("param");
    error.put("code", code);
    return root.toString().getBytes(StandardCharsets.UTF_8);
  }
}
