package dev.weir.extproc.limits;

import java.util.Map;

/**
 * One kind of limit (tokens per minute, requests per minute, a token quota, a money budget): what
 * a request reserves in it, how its counter is kept, and what the client is told.
 *
 * <p>Implementations are immutable and hold only the configured limit; the counters live in a
 * {@link LimitStore}, so one instance serves every request concurrently.
 */
interface LimitKind {
  /** What a request brings to every kind: its estimate and its reserved price. */
  record Demand(long promptTokens, long completionReservation, long costMicros) {
    long tokens() {
      return promptTokens + completionReservation;
    }
  }

  /** What a request used, once the backend answered. */
  record Usage(long tokens, long costMicros) {}

  /** A reservation on one counter: enough to refund or top it up later. */
  record Taken(boolean admitted, long remaining, long retryAfterSeconds, String key, long second, long ttlSeconds) {}

  /** Label in metrics ({@code weir_limiter_decisions_total{kind}}). */
  String label();

  /** The configured ceiling, in the kind's unit (tokens, requests or micro-dollars). */
  long ceiling();

  /** What this request reserves, in the kind's unit. */
  long reserve(Demand demand);

  /** What the request really used, given what it reserved. */
  long used(Usage usage, long reserved);

  /** Reserves {@code amount} on the counter {@code counter} in {@code store}, atomically. */
  Taken take(LimitStore store, String counter, long amount);

  /** What the counter {@code counter} holds now in {@code store}, in the kind's unit; read only. */
  long standing(LimitStore store, String counter);

  /** The span the ceiling is for: "minute", or the calendar period ("day", "month", …). */
  String span();

  /** Adds {@code delta} (negative refunds) to a counter taken earlier. */
  void adjust(LimitStore store, Taken taken, long delta);

  /** The answer for a request this kind refused. */
  Limiter.Refused refusal(String limitName, long amount, Taken taken, Demand demand);

  /** Puts this kind's room into the response headers, keeping the tightest of several limits. */
  void report(Map<String, String> headers, long remaining);
}
