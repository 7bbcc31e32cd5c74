package dev.weir.extproc.pipeline;

/**
 * One policy of the router pass (authentication, validation, limits, routing, usage, telemetry, and
 * later caching and content safety), with one method per ext_proc phase. Every method passes
 * through by default, so a stage implements only the phases it cares about.
 *
 * <p>A stage instance serves one exchange: {@link Pipeline} makes a fresh one per exchange, so
 * per-exchange state lives in plain fields (gRPC delivers a stream's messages one at a time).
 * Request phases run in the pipeline's request order and response phases in its response order
 * (both documented in {@code docs/pipeline.md}); the first stage that answers ends the phase.
 */
public interface Stage {
  /** The stage's name, as {@code --explain} and logs show it. */
  String name();

  /** Request headers: nothing of the body is known yet. */
  default Decision onRequestHeaders(ExchangeState exchange, Mutation mutation) {
    return Decision.proceed();
  }

  /** The whole request body, parsed (see {@link ExchangeState#request()}). */
  default Decision onRequestBody(ExchangeState exchange, Mutation mutation) {
    return Decision.proceed();
  }

  /** Response headers of the answer that reaches the client (the last attempt's). */
  default Decision onResponseHeaders(ExchangeState exchange, Mutation mutation) {
    return Decision.proceed();
  }

  /**
   * One piece of the answer in the client's dialect: the whole JSON body of a buffered answer, or one
   * event of a stream. The stage may drop or replace it.
   */
  default Decision onResponseChunk(ExchangeState exchange, ResponseChunk chunk, Mutation mutation) {
    return Decision.proceed();
  }

  /** The answer is complete (the last chunk was seen); headers can still change if buffered. */
  default Decision onResponseEnd(ExchangeState exchange, Mutation mutation) {
    return Decision.proceed();
  }

  /**
   * The exchange is over, always called once, in response order.
   *
   * @param aborted true when Envoy cancelled the stream (client gone, reset, timeout)
   */
  default void onExchangeEnd(ExchangeState exchange, boolean aborted) {}
}
