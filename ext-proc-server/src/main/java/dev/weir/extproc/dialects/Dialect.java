package dev.weir.extproc.dialects;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weir.extproc.openai.ApiError;
import dev.weir.extproc.openai.ParsedRequest;
import dev.weir.extproc.openai.Usage;
import dev.weir.extproc.providers.ResponseTranslator;
import dev.weir.extproc.tokens.TokenCounter;

/**
 * How the gateway reads one family of client APIs: what a request must contain, how many prompt
 * tokens it costs before the backend answers, how many output tokens it may ask for, where the
 * answer reports its usage (JSON and streamed), and the shape of the errors the gateway makes for
 * its clients. The stages ask the exchange's dialect instead of switching on the endpoint.
 *
 * <p>Dialects are stateless and shared; a {@link StreamReader} serves one exchange.
 */
public interface Dialect {

  /** The 400 for a body that lacks what this operation needs (model and stream are checked already), or null. */
  ApiError validate(ObjectNode body);

  /** The prompt tokens of a request, estimated before the backend answers. */
  long promptTokens(TokenCounter tokens, ParsedRequest request);

  /**
   * The output tokens the request allows for each answer: 0 when it does not say, -1 when the
   * operation produces none (embeddings).
   */
  long maxOutputTokens(JsonNode body);

  /** How many answers the request asks for (OpenAI's {@code n}). */
  default long choices(JsonNode body) {
    return 1;
  }

  /** The usage a whole JSON answer reports, or null. */
  Usage usage(JsonNode answer);

  /** A reader for one streamed answer (the usage of a stream may be spread over several events). */
  StreamReader streamReader(ParsedRequest request);

  /**
   * Whether the gateway asks a streaming backend for its usage
   * ({@code stream_options.include_usage}); only OpenAI's chat and text completions need asking.
   */
  default boolean asksForStreamUsage() {
    return false;
  }

  /**
   * An error the gateway made (in OpenAI's shape, as {@link ApiError#toJson()} writes it) in the
   * shape this dialect's clients parse, so their SDK raises its own typed exception.
   */
  default byte[] clientError(int status, byte[] openAiError) {
    return openAiError;
  }

  /**
   * Reshapes the upstream pass's local replies (errors in OpenAI's shape) for this dialect's
   * clients, or null when they need no reshaping.
   */
  default ResponseTranslator localReplyTranslator() {
    return null;
  }

  /**
   * Whether this streamed event ends the answer as the dialect defines it (OpenAI's
   * {@code [DONE]}, Anthropic's {@code message_stop}, the Responses API's {@code response.completed}),
   * or reports its failure; a stream whose body ends before such an event was cut.
   */
  boolean endsStream(dev.weir.extproc.pipeline.ResponseChunk event);

  /**
   * The SSE event that tells this dialect's clients a stream was cut, appended when the backend's
   * stream ended without its closing event, so SDKs raise an error instead of taking a cut answer
   * for a whole one.
   */
  String streamCutEvent();

  /** Reads the events of one streamed answer, in order. */
  interface StreamReader {
    /**
     * Reads one event's JSON, appends the text it generated (content, tool arguments) to
     * {@code answerText}, and says what it learnt.
     */
    Read read(JsonNode event, StringBuilder answerText);

    /**
     * The prompt tokens the stream reported before its final usage (Anthropic's
     * {@code message_start}), or -1: used when the stream is cut before it completes.
     */
    default long reportedInputTokens() {
      return -1;
    }
  }

  /**
   * What an event told: the answer's final usage (null when this event does not complete it), and
   * whether the event exists only because the gateway asked for it (then the client does not see it).
   */
  record Read(Usage usage, boolean gatewayOnly) {
    public static final Read NOTHING = new Read(null, false);
  }
}
