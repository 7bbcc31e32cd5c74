package dev.weir.extproc.openai;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;

/**
 * A request body, parsed and checked for what the gateway relies on: a JSON object, a string
 * {@code model}, and the operation's required input (its dialect's check). Anything else is the
 * backend's to judge.
 */
public record ParsedRequest(Endpoint endpoint, ObjectNode body, String model, boolean stream) {

  /** The outcome of parsing: a request, or the 400 that explains why not. */
  public sealed interface Result permits Ok, Invalid {}

  /** The request, valid for its endpoint. */
  public record Ok(ParsedRequest request) implements Result {}

  /** The 400 that explains what is wrong with the body. */
  public record Invalid(ApiError error) implements Result {}

  public static Result parse(Endpoint endpoint, byte[] body) {
    if (body.length == 0) {
      return invalid("missing_body", "The request body is empty; send a JSON object.");
    }
    JsonNode root;
    try {
      root = Json.MAPPER.readTree(body);
    } catch (JacksonException e) {
      // Limit violations (nesting depth) carry no location.
      String where = e.getLocation() == null ? ""
          : " (at line " + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr() + ")";
      return invalid("invalid_json", "The request body is not valid JSON: " + e.getOriginalMessage() + where);
    } catch (IOException e) {
      return invalid("invalid_json", "The request body could not be read: " + e.getMessage());
    }
    if (!(root instanceof ObjectNode object)) {
      return invalid("invalid_json", "The request body must be a JSON object.");
    }
    JsonNode model = object.get("model");
    if (model == null || model.isNull()) {
      return invalidParam("missing_model", "you must provide a model parameter");
    }
    if (!model.isTextual() || model.asText().isBlank()) {
      return invalidParam("invalid_model", "model must be a non-empty string");
    }
    JsonNode stream = object.get("stream");
    if (stream != null && !stream.isNull() && !stream.isBoolean()) {
      return invalidParam("invalid_stream", "stream must be true or false");
    }
    boolean streaming = stream != null && stream.asBoolean(false);
    if (streaming && !endpoint.canStream()) {
      return invalidParam("invalid_stream", endpoint.path() + " does not stream");
    }
    ApiError missing = dev.weir.extproc.dialects.Dialects.of(endpoint).validate(object);
    if (missing != null) {
      return new Invalid(missing);
    }
    return new Ok(new ParsedRequest(endpoint, object, model.asText(), streaming));
  }

  private static Result invalid(String code, String message) {
    return new Invalid(ApiError.badRequest(code, message));
  }

  private static Result invalidParam(String code, String message) {
    return new Invalid(ApiError.badRequest(code, message));
  }
}
