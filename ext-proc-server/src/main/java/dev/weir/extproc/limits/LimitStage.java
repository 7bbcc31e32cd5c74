package dev.weir.extproc.limits;

import dev.weir.extproc.GatewayRuntime;
import dev.weir.extproc.dialects.Dialect;
import dev.weir.extproc.openai.Usage;
import dev.weir.extproc.pipeline.Decision;
import dev.weir.extproc.pipeline.ExchangeState;
import dev.weir.extproc.pipeline.Mutation;
import dev.weir.extproc.pipeline.Stage;
import com.fasterxml.jackson.databind.JsonNode;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Reserves the request's tokens (prompt estimate plus capped completion) against every limit of
 * the consumer before the backend is called, refusing with 429 (rates) or 403 (quotas, budgets);
 * reports the limits in response headers; settles the reservation with the real usage once the
 * answer is complete, or with what was streamed when the exchange is cut. Also prices the
 * exchange for consumers without limits.
 */
public final class LimitStage implements Stage {
  private Limiter.Reservation reservation;
  private Map<String, String> limitHeaders = Map.of();
  private boolean settled;

  @Override
  public String name() {
    return "limits";
  }

  @Override
  public Decision onRequestBody(ExchangeState exchange, Mutation mutation) {
    GatewayRuntime gateway = exchange.gateway();
    String consumer = exchange.caller().name();
    if (!gateway.limiter().limits(consumer, exchange.request().model())) {
      return Decision.proceed();
    }
    // Large prompts are counted off this thread, one at a time per consumer (TokenCounter).
    long prompt = gateway.tokens().promptTokens(consumer, exchange.request());
    exchange.record().estimatedPromptTokens(prompt);
    Limiter.Admission admission = gateway.limiter().admit(new Limiter.Facts(consumer, exchange.clientIp(),
        exchange.requestHeaders(), exchange.jwtClaims(), exchange.request().model(), prompt,
        completionReservation(exchange)));
    if (admission instanceof Limiter.Refused refused) {
      Map<String, String> extra = new LinkedHashMap<>();
      if (refused.error().status() == 429 || refused.error().status() == 503) {
        extra.put("retry-after", Long.toString(Math.max(1, refused.retryAfterSeconds())));
      }
      extra.put("x-weir-limit", refused.limit());
      exchange.record().limitedBy(refused.limit());
      return Decision.reject(refused.error(), extra);
    }
    Limiter.Admitted admitted = (Limiter.Admitted) admission;
    reservation = admitted.reservation();
    limitHeaders = admitted.headers();
    exchange.record().limitHeaders(limitHeaders);
    return Decision.proceed();
  }

  /** The output tokens the request allows (its dialect reads them), else the default; capped; per choice. */
  static long completionReservation(ExchangeState exchange) {
    Dialect dialect = exchange.dialect();
    JsonNode body = exchange.request().body();
    long asked = dialect.maxOutputTokens(body);
    if (asked < 0) {
      return 0;
    }
    var settings = exchange.gateway().config().getTokens();
    long each = asked > 0 ? Math.min(asked, settings.getMaxCompletionReservation())
        : settings.getDefaultCompletionReservation();
    return each * dialect.choices(body);
  }

  @Override
  public Decision onResponseHeaders(ExchangeState exchange, Mutation mutation) {
    limitHeaders.forEach(mutation::setHeader);
    if (reservation != null && exchange.status() == 200) {
      mutation.setHeader("x-weir-tokens-reserved", Long.toString(reservation.reservedTokens()));
    }
    return Decision.proceed();
  }

  @Override
  public Decision onResponseEnd(ExchangeState exchange, Mutation mutation) {
    long consumed = settle(exchange);
    if (consumed >= 0 && !exchange.streaming()) {
      // Buffered: headers are still Envoy's to send, so the actual count can go in them.
      mutation.setHeader("x-weir-tokens-consumed", Long.toString(consumed));
    }
    return Decision.proceed();
  }

  @Override
  public void onExchangeEnd(ExchangeState exchange, boolean aborted) {
    if (!aborted || settled || reservation == null) {
      return;
    }
    if (!exchange.responseStarted() || !exchange.streaming()) {
      // The client left before any answer reached it: nothing is owed.
      settled = true;
      reservation.reconcile(0, 0, 0);
    } else {
      // Cut mid-stream: charge the prompt and what was streamed (the usage stage counted it).
      settle(exchange);
    }
  }

  /**
   * Settles once with the usage the usage stage found (reported or counted); a failed call
   * refunds everything. Returns the tokens charged, or -1 when nothing was reserved.
   */
  private long settle(ExchangeState exchange) {
    if (settled) {
      return -1;
    }
    settled = true;
    Usage usage = exchange.record().usage();
    long input = usage == null ? 0 : usage.promptTokens();
    long cached = usage == null ? 0 : Math.max(0, usage.cachedPromptTokens());
    long output = usage == null ? 0 : usage.completionTokens();
    if (reservation == null) {
      if (exchange.served() && exchange.request() != null) {
        exchange.record().costMicros(exchange.gateway().limiter().price(exchange.request().model(),
            input, cached, output));
      }
      return -1;
    }
    exchange.record().costMicros(reservation.reconcile(input, cached, output));
    return input + output;
  }
}
