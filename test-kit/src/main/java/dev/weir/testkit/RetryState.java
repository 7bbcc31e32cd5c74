package dev.weir.testkit;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.Durations;
import io.envoyproxy.envoy.config.route.v3.HeaderMatcher;
import io.envoyproxy.envoy.config.route.v3.RetryPolicy;
import io.envoyproxy.envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig;
import java.time.Duration;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The router's retry decisions for one request, following Envoy's
 * source/common/router/retry_state_impl.cc (RetryStateImpl), source/common/router/config_impl.cc
 * RetryPolicyImpl (defaults and validation), reset_header_parser.cc and
 * source/common/common/backoff_strategy.cc.
 */
final class RetryState {
  /** Envoy's Http::StreamResetReason values that reach the retry decision. */
  enum Reset { CONNECTION_FAILURE, REMOTE_RESET, LOCAL_RESET, OVERFLOW }

  private static final Set<String> KNOWN_RETRY_ON = Set.of("5xx", "gateway-error", "connect-failure",
      "envoy-ratelimited", "retriable-4xx", "refused-stream", "retriable-status-codes", "retriable-headers", "reset",
      "reset-before-request", "http3-post-connect-failure", "cancelled", "deadline-exceeded", "internal",
      "resource-exhausted", "unavailable");

  private final RetryPolicy policy;
  private final Set<String> retryOn;
  private int retriesRemaining;
  private final long maxIntervalMillis;
  private long nextIntervalMillis;
  private final long resetMaxIntervalMillis;
  private Long rateLimitedIntervalMillis;

  private RetryState(RetryPolicy policy, HeaderList requestHeaders) {
    this.policy = policy;
    Set<String> on = new TreeSet<>();
    // RetryStateImpl::parseRetryOn and parseRetryGrpcOn split on ',' and trim; unknown names are skipped.
    for (String name : policy.getRetryOn().split(",")) {
      if (KNOWN_RETRY_ON.contains(name.strip())) {
        on.add(name.strip());
      }
    }
    // RetryStateImpl: with retriable_request_headers, a request matching none of them is not retried.
    if (policy.getRetriableRequestHeadersCount() > 0
        && policy.getRetriableRequestHeadersList().stream().noneMatch(m -> RouteTable.headerMatches(m, requestHeaders))) {
      on.clear();
    }
    this.retryOn = on;
    // RetryPolicyImpl: num_retries defaults to 1.
    this.retriesRemaining = policy.hasNumRetries() ? policy.getNumRetries().getValue() : 1;
    // RetryPolicyImpl: intervals under 1 ms become 1 ms; max_interval below base_interval is a config
    // error. RetryStateImpl: base defaults to 25 ms (upstream.base_retry_backoff_ms) and max to 10 × base.
    long base = 25;
    Long max = null;
    if (policy.hasRetryBackOff()) {
      base = Math.max(1, Durations.toMillis(policy.getRetryBackOff().getBaseInterval()));
      if (policy.getRetryBackOff().hasMaxInterval()) {
        max = Math.max(1, Durations.toMillis(policy.getRetryBackOff().getMaxInterval()));
        if (max < base) {
          throw new IllegalArgumentException("retry_policy.max_interval must greater than or equal to the base_interval");
        }
      }
    }
    this.maxIntervalMillis = max != null ? max : base * 10;
    this.nextIntervalMillis = base;
    // RetryPolicyImpl: rate_limited_retry_back_off.max_interval defaults to 300 s, at least 1 ms.
    this.resetMaxIntervalMillis = policy.getRateLimitedRetryBackOff().hasMaxInterval()
        ? Math.max(1, Durations.toMillis(policy.getRateLimitedRetryBackOff().getMaxInterval())) : 300_000;
  }

  /** Null when the route has no retry_on (RetryStateImpl::create allocates none). */
  static RetryState create(RetryPolicy policy) {
    return create(policy, new HeaderList());
  }

  static RetryState create(RetryPolicy policy, HeaderList requestHeaders) {
    return policy == null || policy.getRetryOn().isBlank() ? null : new RetryState(policy, requestHeaders);
  }

  /**
   * RetryPolicyImpl::hostSelectionMaxAttempts: host_selection_retry_max_attempts, or 1 when unset
   * or 0 ({@code host_selection_attempts_{1}}). The balancer makes this many picks plus one.
   */
  int hostSelectionMaxAttempts() {
    long configured = policy.getHostSelectionRetryMaxAttempts();
    return configured > 0 ? (int) Math.min(Integer.MAX_VALUE - 1, configured) : 1;
  }

  boolean previousHosts() {
    return policy.getRetryHostPredicateList().stream()
        .anyMatch(p -> p.getName().equals("envoy.retry_host_predicates.previous_hosts"));
  }

  /** A fresh previous_priorities plugin for this request, or null without one (RetryPolicyImpl::retryPriority). */
  PreviousPriorities retryPriority() {
    if (!policy.hasRetryPriority()
        || !policy.getRetryPriority().getName().equals("envoy.retry_priorities.previous_priorities")) {
      return null;
    }
    try {
      var config = policy.getRetryPriority().getTypedConfig().unpack(PreviousPrioritiesConfig.class);
      return new PreviousPriorities(config.getUpdateFrequency());
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalArgumentException("unreadable previous_priorities config", e);
    }
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
    if (retryOn.contains("retriable-headers")) {
      for (HeaderMatcher m : policy.getRetriableHeadersList()) {
        if (RouteTable.headerMatches(m, headers)) {
          return "retriable-headers " + m.getName();
        }
      }
    }
    String grpc = grpcRetry(headers.get("grpc-status"));
    return grpc;
  }

  /** The gRPC part of wouldRetryFromHeaders: grpc-status in the response headers (Grpc::Common::getGrpcStatus). */
  private String grpcRetry(String grpcStatus) {
    if (grpcStatus == null || !grpcStatus.strip().matches("[0-9]+")) {
      return null;
    }
    String name = switch (Integer.parseInt(grpcStatus.strip())) {
      case 1 -> "cancelled";
      case 4 -> "deadline-exceeded";
      case 8 -> "resource-exhausted";
      case 13 -> "internal";
      case 14 -> "unavailable";
      default -> null;
    };
    return name != null && retryOn.contains(name) ? name : null;
  }

  /**
   * RetryStateImpl::wouldRetryFromReset. Per-try and per-try-idle timeouts arrive here as
   * LOCAL_RESET (router.cc onPerTryTimeoutCommon calls maybeRetryReset(LocalReset, ...)), so
   * {@code reset}, {@code 5xx} and {@code gateway-error} all retry a hung backend.
   * {@code reset-before-request} retries only while no byte of the request went upstream.
   */
  String wouldRetryFromReset(Reset reason, boolean requestStarted) {
    if (reason == Reset.OVERFLOW) {
      return null;
    }
    if (reason == Reset.CONNECTION_FAILURE && retryOn.contains("connect-failure")) {
      return "connect-failure";
    }
    if (retryOn.contains("reset-before-request") && !requestStarted) {
      return "reset-before-request";
    }
    if (retryOn.contains("reset")) {
      return "reset";
    }
    if (retryOn.contains("5xx") || retryOn.contains("gateway-error")) {
      return retryOn.contains("5xx") ? "5xx (reset)" : "gateway-error (reset)";
    }
    return null;
  }

  String wouldRetryFromReset(Reset reason) {
    return wouldRetryFromReset(reason, reason != Reset.CONNECTION_FAILURE);
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
   * RetryStateImpl::shouldRetryHeaders and parseResetInterval: with rate_limited_retry_back_off,
   * the reset headers are tried in order; the first that parses (whole seconds; a UNIX_TIMESTAMP
   * in the past does not parse) and is not above max_interval (default 300 s) is used; a larger
   * one is discarded, not capped, and the next header is tried. Only an interval above 1 ms
   * replaces the exponential back-off, for the next retry only.
   */
  void readResetHeaders(HeaderList headers) {
    rateLimitedIntervalMillis = null;
    if (!policy.hasRateLimitedRetryBackOff()) {
      return;
    }
    for (RetryPolicy.ResetHeader reset : policy.getRateLimitedRetryBackOff().getResetHeadersList()) {
      Long interval = parseInterval(reset, headers.get(reset.getName()));
      if (interval != null && interval <= resetMaxIntervalMillis) {
        if (interval > 1) {
          rateLimitedIntervalMillis = interval;
        }
        return;
      }
    }
  }

  /**
   * reset_header_parser.cc ResetHeaderParserImpl::parseInterval on the header's first value:
   * absl::SimpleAtoi into a uint64 (surrounding ASCII whitespace and a leading '+' allowed, nothing
   * else), seconds to milliseconds.
   */
  static Long parseInterval(RetryPolicy.ResetHeader reset, String value) {
    if (value == null) {
      return null;
    }
    String digits = value.strip();
    if (digits.startsWith("+")) {
      digits = digits.substring(1);
    }
    if (!digits.matches("[0-9]+")) {
      return null;
    }
    long number;
    try {
      number = Long.parseLong(digits);
    } catch (NumberFormatException e) {
      return null; // beyond 2^63: also far beyond any max_interval
    }
    if (reset.getFormat() == RetryPolicy.ResetHeaderFormat.UNIX_TIMESTAMP) {
      long now = System.currentTimeMillis() / 1000;
      return number < now ? null : Math.multiplyHigh(number - now, 1000) != 0 ? Long.MAX_VALUE : (number - now) * 1000;
    }
    return Math.multiplyHigh(number, 1000) != 0 ? Long.MAX_VALUE : number * 1000;
  }

  /**
   * RetryStateImpl::enableBackoffTimer. Rate-limited: JitteredLowerBoundBackOffStrategy,
   * {@code random % (i >> 1) + i}, in [i, 1.5 i). Otherwise
   * JitteredExponentialBackOffStrategy::nextBackOffMs: {@code random % next}, where next starts at
   * the base interval and doubles while below max_interval / 2, else becomes max_interval, so the
   * retries wait in [0, B), [0, 2B), [0, 4B)... up to [0, max).
   */
  Duration nextBackOff() {
    ThreadLocalRandom random = ThreadLocalRandom.current();
    if (rateLimitedIntervalMillis != null) {
      long min = rateLimitedIntervalMillis;
      rateLimitedIntervalMillis = null; // "only valid for the response that sent the ratelimit reset header"
      return Duration.ofMillis(random.nextLong(min >> 1) + min);
    }
    long backoff = nextIntervalMillis;
    nextIntervalMillis = nextIntervalMillis < maxIntervalMillis / 2 ? nextIntervalMillis * 2 : maxIntervalMillis;
    return Duration.ofMillis(random.nextLong(backoff));
  }
}
