package dev.weir.extproc.telemetry;

import com.google.protobuf.Timestamp;
import dev.weir.events.v1.UsageEvent;
import dev.weir.extproc.pipeline.ExchangeState;
import dev.weir.extproc.routing.BackendTarget;
import java.util.Locale;

/** Makes the usage event of one finished exchange from what its stages recorded. */
public final class UsageEvents {
  /** Client-chosen strings (the requested model, the request id) are cut to this many characters. */
  static final int MAX_CLIENT_STRING = 256;

  private UsageEvents() {}

  /** The event outcome and error code for a record's outcome (as metrics call it). */
  record Outcome(String outcome, String errorCode) {}

  static Outcome outcome(ExchangeRecord r) {
    String o = r.outcome();
    if (o.equals("cached")) {
      return new Outcome("cached", "");
    }
    if (o.equals("served")) {
      return new Outcome(r.attempts() > 1 ? "failed_over" : "served", "");
    }
    if (o.equals("client_closed")) {
      return new Outcome("client_closed", "");
    }
    if (o.startsWith("rejected_")) {
      String code = o.substring("rejected_".length());
      if (!r.limitedBy().isEmpty()) {
        return new Outcome("limited", code);
      }
      if (code.equals("content_filter")) {
        return new Outcome("blocked", code);
      }
      return new Outcome("error", code);
    }
    return new Outcome("error", o);
  }

  /** The event of a finished exchange ({@link ExchangeRecord#finish} was called). */
  public static UsageEvent of(ExchangeState exchange, String replica) {
    ExchangeRecord r = exchange.record();
    Outcome outcome = outcome(r);
    long millis = r.startEpochMillis();
    UsageEvent.Builder e = UsageEvent.newBuilder()
        .setTime(Timestamp.newBuilder().setSeconds(Math.floorDiv(millis, 1000)).setNanos((int) Math.floorMod(millis, 1000) * 1_000_000))
        .setRequestId(clip(r.requestId()))
        .setTraceId(r.traceId())
        .setSpanId(r.spanId())
        .setConsumer(r.consumer())
        .setKeyId(r.keyId())
        .setModelRequested(clip(r.model()))
        .setModelServed(clip(r.modelServed()))
        .setPool(r.pool() == null ? "" : r.pool())
        .setBackend(r.backend())
        .setProvider(provider(exchange, r.backend()))
        .setEndpoint(r.endpointName())
        .setStream(exchange.request() != null && exchange.request().stream())
        .setStatus(r.status())
        .setOutcome(outcome.outcome())
        .setErrorCode(outcome.errorCode())
        .setAttempts(r.attempts())
        .setCostUsd(r.costMicros() / 1e6)
        .setCachedSavingsUsd(r.cachedSavingsMicros() / 1e6)
        .setGatewayLatencyMs(r.gatewayNanos() / 1e6)
        .setTimeToFirstTokenMs(r.timeToFirstByteNanos() / 1e6)
        .setTotalLatencyMs(r.durationNanos() / 1e6)
        .setCache(r.cache())
        .addAllSafety(r.safety())
        .setLimitedBy(r.limitedBy())
        .putAllLimits(r.limitHeaders())
        .setPrompt(r.prompt())
        .setAnswer(r.answer())
        .setContentTruncated(r.contentTruncated())
        .setReplica(replica);
    if (r.usage() != null) {
      var u = r.usage();
      e.setPromptTokens(u.promptTokens()).setCompletionTokens(u.completionTokens())
          .setCachedTokens(Math.max(0, u.cachedPromptTokens())).setReasoningTokens(Math.max(0, u.reasoningTokens()))
          .setTokensCountedBy(r.isUsageCounted() ? "gateway" : "backend");
    }
    return e.build();
  }

  private static String provider(ExchangeState exchange, String backend) {
    if (backend == null || backend.isEmpty()) {
      return "";
    }
    BackendTarget target = exchange.gateway().routing().backend(backend);
    return target == null ? "" : target.provider().name().toLowerCase(Locale.ROOT).replace('_', '-');
  }

  private static String clip(String s) {
    if (s == null) {
      return "";
    }
    return s.length() > MAX_CLIENT_STRING ? s.substring(0, MAX_CLIENT_STRING) : s;
  }
}
