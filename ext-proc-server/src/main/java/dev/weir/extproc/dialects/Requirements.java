package dev.weir.extproc.dialects;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weir.extproc.openai.ApiError;
import java.util.Set;

/** Checks shared by the dialects' validations, with OpenAI's wording of the 400s. */
final class Requirements {
  private Requirements() {}

  static ApiError present(ObjectNode body, String field) {
    JsonNode node = body.get(field);
    if (node == null || node.isNull()) {
      return ApiError.badRequest("missing_" + field, "you must provide a " + field + " parameter");
    }
    return null;
  }

  /** A non-empty array of objects with a string role (one of {@code roles} unless null). */
  static ApiError nonEmptyMessages(ObjectNode body, String field, Set<String> roles) {
    JsonNode node = body.get(field);
    if (node == null || node.isNull()) {
      return ApiError.badRequest("missing_" + field, "you must provide a " + field + " parameter");
    }
    if (!node.isArray()) {
      return ApiError.badRequest("invalid_" + field, field + " must be an array");
    }
    if (node.isEmpty()) {
      return ApiError.badRequest("empty_" + field, field + " must contain at least one message");
    }
    for (JsonNode message : node) {
      if (!message.isObject() || !message.path("role").isTextual()) {
        return ApiError.badRequest("invalid_" + field, "every entry of " + field
            + " must be an object with a string \"role\"");
      }
      if (roles != null && !roles.contains(message.path("role").asText())) {
        return ApiError.badRequest("invalid_" + field, "the role of every entry of " + field
            + " must be one of " + String.join(", ", roles.stream().sorted().toList()) + ", not \""
            + message.path("role").asText() + "\"");
      }
    }
    return null;
  }

  /** Absent, or a whole number of at least 1. */
  static ApiError positiveIntegerIfPresent(ObjectNode body, String field) {
    JsonNode node = body.get(field);
    if (node == null || node.isNull()) {
      return null;
    }
    if (!node.isIntegralNumber() || node.asLong() < 1) {
      return ApiError.badRequest("invalid_" + field, field + " must be an integer of at least 1");
    }
    return null;
  }
}
