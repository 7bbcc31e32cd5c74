package dev.weir.testkit;

import com.google.protobuf.util.Durations;
import io.envoyproxy.envoy.config.route.v3.RetryPolicy;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The router's retry decisions for one request, following Envoy's
 * source/common/router/retry_state_impl.cc (RetryStateImpl) and
 * source/common/common/backoff_strategy.cc.
 */
final class RetryState {
  /** Envoy's Http::StreamResetReason values that reach the retry decision. */
  enum Reset { CONNECTION_FAILURE, REMOTE_RESET, LOCAL_RESET, OVERFLOW }

  private final RetryPolicy policy;
  private final Set<String> retryOn;
  private int retriesRemaining;
  private final long maxIntervalMillis;
  private long nextIntervalMillis;
  private Long rateLimitedIntervalMillis;

  private RetryState(RetryPolicy policy) {
    this.policy = policy;
    this.retryOn = new HashSet<>(List.of(policy.getRetryOn().split("\\s*,\\s*")));
    // route_components.proto: num_retries "defaults to 1".
    this.retriesRemaining = policy.hasNumRetries() ? policy.getNumRetries().getValue() : 1;
    long base = policy.hasRetryBackOff() ? Durations.toMillis(policy.getRetryBackOff().getBaseInterval()) : 25;
    base = Math.max(1, base);
    // RetryStateImpl: "By default, cap the max interval to 10 times the base interval".
    this.maxIntervalMillis = policy.hasRetryBackOff() && policy.getRetryBackOff().hasMaxInterval()
        ? Durations.toMillis(policy.getRetryBackOff().getMaxInterval()) : base * 10;
    this.nextIntervalMillis = base;
  }

  /** Null when the route has no retry policy (RetryStateImpl::create allocates none). */
  static RetryState create(RetryPolicy policy) {
    return policy == null || policy.getRetryOn().isBlank() ? null : new RetryState(policy);
  }

  int hostSelectionRetryMaxAttempts() {
    return (int) policy.getHostSelectionRetryMaxAttempts();
  }

  boolean previousHosts() {
    return policy.getRetryHostPredicateList().stream()
        .anyMatch(p -> p.getName().equals("envoy.retry_host_predicates.previous_hosts"));
  }

  boolean previousPriorities() {
    return policy.hasRetryPriority()
        && policy.getRetryPriority().getName().equals("envoy.retry_priorities.previous_priorities");
  }

  /** RetryStateImpl::wouldRetryFromHeaders; the reason, or null for "no retry". */
  String wouldRetryFromHeaders(int status, HeaderList headers) {
    if (headers.get("x-envoy-ratelimited") != null) {
      return retryOn.contains("envoy-ratelimited") ? "envoy-ratelimited" : null;
    }
    if (retryOn.contains("5xx") && status >= 500 && status < 600) {
      return "5xx";
    }
    if (retryOn.contains("gateway-error") && (status == 502 || status == 503 || status == 504)) {
      return "gateway-error";
    }
    if (retryOn.contains("retriable-4xx") && status == 409) {
      return "retriable-4xx";
    }
    if (retryOn.contains("retriable-status-codes") && policy.getRetriableStatusCodesList().contains(status)) {
      return "retriable-status-codes " + status;
    }
    return null;
  }

  /**
   * RetryStateImpl::wouldRetryFromReset. Per-try and per-try-idle timeouts arrive here as
   * LOCAL_RESET (router.cc onPerTryTimeoutCommon calls maybeRetryReset(LocalReset, ...)), so
   * {@code reset}, {@code 5xx} and {@code gateway-error} all retry a hung backend.
   */
  String wouldRetryFromReset(Reset reason) {
    if (reason == Reset.OVERFLOW) {
      return null;
    }
    if (reason == Reset.CONNECTION_FAILURE && retryOn.contains("connect-failure")) {
      return "connect-failure";
    }
    if (retryOn.contains("reset")) {
      return "reset";
    }
    if (retryOn.contains("5xx") || retryOn.contains("gateway-error")) {
      return retryOn.contains("5xx") ? "5xx (reset)" : "gateway-error (reset)";
    }
    return null;
  }

  /**
   * RetryStateImpl::shouldRetry: spends one retry; false when none is left. The caller checks the
   * cluster's max_retries circuit breaker after this, as Envoy does.
   */
  boolean consumeRetry() {
    if (retriesRemaining == 0) {
      return false;
    }
    retriesRemaining--;
    return true;
  }

  /**
   * RetryStateImpl::shouldRetryHeaders: with rate_limited_retry_back_off, the first reset header
   * that parses as whole seconds (absl::SimpleAtoi; a UNIX_TIMESTAMP in the past is discarded) and
   * is not above max_interval (default 300 s) is used; a larger one is discarded, not capped
   * (parseResetInterval). Only an interval above 1 ms replaces the exponential back-off.
   */
  void readResetHeaders(HeaderList headers) {
    rateLimitedIntervalMillis = null;
    if (!policy.hasRateLimitedRetryBackOff()) {
      return;
    }
    var rl = policy.getRateLimitedRetryBackOff();
    long max = rl.hasMaxInterval() ? Durations.toMillis(rl.getMaxInterval()) : 300_000;
    for (RetryPolicy.ResetHeader reset : rl.getResetHeadersList()) {
      Long interval = parseInterval(reset, headers.get(reset.getName()));
      if (interval != null && interval <= max) {
        if (interval > 1) {
          rateLimitedIntervalMillis = interval;
        }
        return;
      }
    }
  }

  /** reset_header_parser.cc ResetHeaderParserImpl::parseInterval. */
  static Long parseInterval(RetryPolicy.ResetHeader reset, String value) {
    if (value == null || !value.matches("\\+?[0-9]+")) { // SimpleAtoi: an unsigned integer, nothing else
      return null;
    }
    long number;
    try {
      number = Long.parseLong(value.startsWith("+") ? value.substring(1) : value);
    } catch (NumberFormatException e) {
      return null;
    }
    if (reset.getFormat() == RetryPolicy.ResetHeaderFormat.UNIX_TIMESTAMP) {
      long now = System.currentTimeMillis() / 1000;
      return number < now ? null : (number - now) * 1000;
    }
    return number * 1000;
  }

  /**
   * RetryStateImpl::enableBackoffTimer. Rate-limited: JitteredLowerBoundBackOffStrategy,
   * random in [i, 1.5 i). Otherwise JitteredExponentialBackOffStrategy::nextBackOffMs: random in
   * [0, next) where next starts at the base interval and doubles up to max_interval, so the
   * retries wait in [0, B), [0, 2B), [0, 4B)...
   */
  Duration nextBackOff() {
    ThreadLocalRandom random = ThreadLocalRandom.current();
    if (rateLimitedIntervalMillis != null) {
      long min = rateLimitedIntervalMillis;
      rateLimitedIntervalMillis = null; // valid only for the response that carried the header
      return Duration.ofMillis(random.nextLong(Math.max(1, min >> 1)) + min);
    }
    long backoff = nextIntervalMillis;
    nextIntervalMillis = nextIntervalMillis < maxIntervalMillis / 2 ? nextIntervalMillis * 2 : maxIntervalMillis;
    return Duration.ofMillis(random.nextLong(Math.max(1, backoff)));
  }
}
