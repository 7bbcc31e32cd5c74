package dev.weir.extproc.providers;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weir.extproc.openai.Json;

/** Pieces of OpenAI chat answers that every translation from another API builds alike. */
final class OpenAiChunks {
  private OpenAiChunks() {}

  /** An answer's envelope: id, object, created, model. */
  static ObjectNode base(String object, String id, long created, String model) {
    ObjectNode out = Json.MAPPER.createObjectNode();
    out.put("id", id);
    out.put("object", object);
    out.put("created", created);
    out.put("model", model);
    return out;
  }

  /** A {@code chat.completion.chunk} with one choice and an empty delta to fill. */
  static ObjectNode chunk(String id, long created, String model) {
    ObjectNode c = base("chat.completion.chunk", id, created, model);
    ObjectNode choice = c.putArray("choices").addObject();
    choice.put("index", 0);
    choice.putObject("delta");
    choice.putNull("logprobs");
    choice.putNull("finish_reason");
    return c;
  }

  /** The delta of a chunk made by {@link #chunk}. */
  static ObjectNode delta(ObjectNode chunk) {
    return (ObjectNode) chunk.path("choices").get(0).get("delta");
  }

  /** OpenAI usage; {@code input} includes the cached tokens, as OpenAI's prompt count does. */
  static ObjectNode usage(long input, long output, long cached) {
    ObjectNode u = Json.MAPPER.createObjectNode();
    u.put("prompt_tokens", input);
    u.put("completion_tokens", output);
    u.put("total_tokens", input + output);
    u.putObject("prompt_tokens_details").put("cached_tokens", cached);
    return u;
  }

  /** The inside of an OpenAI error object. */
  static ObjectNode errorBody(String type, String code, String message) {
    ObjectNode e = Json.MAPPER.createObjectNode();
    e.put("message", message);
    e.put("type", type);
    e.putNull("param");
    e.put("code", code);
    return e;
  }
}
