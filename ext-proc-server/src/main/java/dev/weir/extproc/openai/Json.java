package dev.weir.extproc.openai;

import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.ObjectMapper;

/** The one Jackson mapper the server uses; configured once, thread-safe after that. */
public final class Json {
  public static final ObjectMapper MAPPER = new ObjectMapper();

  static {
    // Request bodies are bounded by extProc.maxRequestBytes; nesting is bounded here so a
    // hostile body cannot exhaust the stack while we parse it.
    MAPPER.getFactory().setStreamReadConstraints(
        StreamReadConstraints.builder().maxNestingDepth(200).build());
  }

  private Json() {}

  /** A JSON tree as UTF-8 bytes. */
  public static byte[] bytes(com.fasterxml.jackson.databind.JsonNode node) {
    try {
      return MAPPER.writeValueAsBytes(node);
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalStateException("a JSON tree always serialises", e);
    }
  }
}
