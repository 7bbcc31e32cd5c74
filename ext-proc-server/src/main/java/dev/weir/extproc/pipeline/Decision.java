package dev.weir.extproc.pipeline;

import dev.weir.extproc.openai.ApiError;
import java.util.Map;

/** What a stage decided for a phase: go on to the next stage, or answer the client now. */
public sealed interface Decision permits Decision.Proceed, Decision.Answer {

  /** Go on; whatever the stage wrote into the phase's {@link Mutation} is applied. */
  record Proceed() implements Decision {}

  /**
   * Answer now with this status, JSON body and headers; later stages do not run for this phase.
   *
   * @param outcome what the exchange's record and metrics call it, such as {@code rejected_<code>}
   */
  record Answer(int status, byte[] body, Map<String, String> headers, String outcome)
      implements Decision {}

  Proceed PROCEED = new Proceed();

  static Decision proceed() {
    return PROCEED;
  }

  /** An OpenAI-shaped error answer, recorded as {@code rejected_<code>}. */
  static Answer reject(ApiError error) {
    return reject(error, Map.of());
  }

  static Answer reject(ApiError error, Map<String, String> headers) {
    return new Answer(error.status(), error.toJson(), headers, "rejected_" + error.code());
  }

  /** A successful answer made by the gateway itself (a model list, later a cache hit). */
  static Answer answer(int status, byte[] json, Map<String, String> headers, String outcome) {
    return new Answer(status, json, headers, outcome);
  }
}
