package dev.weir.extproc.providers;

import java.util.List;

/**
 * Turns one backend answer into the dialect the client speaks (OpenAI's, for an OpenAI SDK talking
 * to an Anthropic or Bedrock backend). Made per exchange by {@link ProviderAdapter#translator},
 * since a stream's translation carries state from event to event; used by one thread at a time.
 */
public interface ResponseTranslator {
  /** Whether the answer with these headers is a stream this translator reads chunk by chunk. */
  boolean streams(int status, String contentType);

  /** The client-dialect JSON for a whole (buffered) answer, success or error. */
  byte[] translateBody(int status, byte[] body);

  /**
   * Feeds the next bytes of a stream and returns the data of the client-dialect SSE events they
   * completed (JSON chunks, and {@code [DONE]} at the end). A malformed or failed stream ends with
   * an error event in the client's dialect, so SDKs raise it instead of taking the answer as whole.
   */
  List<String> translateStream(byte[] chunk, boolean endOfStream);
}
