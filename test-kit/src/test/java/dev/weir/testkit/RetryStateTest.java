package dev.weir.testkit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.util.Durations;
import io.envoyproxy.envoy.config.route.v3.RetryPolicy;
import org.junit.jupiter.api.Test;

/** Retry decisions and back-off as Envoy's retry_state_impl.cc and backoff_strategy.cc compute them. */
class RetryStateTest {
  private static RetryPolicy.Builder policy(String retryOn) {
    return RetryPolicy.newBuilder().setRetryOn(retryOn)
        .setRetryBackOff(RetryPolicy.RetryBackOff.newBuilder().setBaseInterval(Durations.fromMillis(100)));
  }

  private static RetryPolicy.Builder retryAfter(long maxSeconds) {
    return policy("retriable-status-codes").addRetriableStatusCodes(429)
        .setRateLimitedRetryBackOff(RetryPolicy.RateLimitedRetryBackOff.newBuilder()
            .addResetHeaders(RetryPolicy.ResetHeader.newBuilder().setName("retry-after")
                .setFormat(RetryPolicy.ResetHeaderFormat.SECONDS))
            .addResetHeaders(RetryPolicy.ResetHeader.newBuilder().setName("x-ratelimit-reset")
                .setFormat(RetryPolicy.ResetHeaderFormat.SECONDS))
            .setMaxInterval(Durations.fromSeconds(maxSeconds)));
  }

  @Test
  void exponentialBackOffDrawsFromZeroToBaseThenTwiceBaseThenFourTimes() {
    long[] max = new long[3];
    for (int i = 0; i < 300; i++) {
      RetryState s = RetryState.create(policy("5xx").build());
      for (int n = 0; n < 3; n++) {
        max[n] = Math.max(max[n], s.nextBackOff().toMillis());
      }
    }
    assertTrue(max[0] < 100 && max[0] >= 50, "first retry in [0, 100): max " + max[0]);
    assertTrue(max[1] < 200 && max[1] >= 100, "second in [0, 200): max " + max[1]);
    assertTrue(max[2] < 400 && max[2] >= 200, "third in [0, 400): max " + max[2]);
  }

  @Test
  void exponentialBackOffStopsGrowingAtTenTimesTheBaseByDefault() {
    RetryState s = RetryState.create(policy("5xx").build());
    long max = 0;
    for (int n = 0; n < 40; n++) {
      max = Math.max(max, s.nextBackOff().toMillis());
    }
    assertTrue(max < 1000, "capped at 10 x base: " + max);
  }

  @Test
  void retryAfterInWholeSecondsWaitsBetweenOnceAndOneAndAHalfTimesIt() {
    RetryState s = RetryState.create(retryAfter(300).build());
    s.readResetHeaders(HeaderList.of("retry-after", "2"));
    long wait = s.nextBackOff().toMillis();
    assertTrue(wait >= 2000 && wait < 3000, "[2 s, 3 s): " + wait);
  }

  @Test
  void retryAfterZeroOrAFractionFallsBackToExponentialBackOff() {
    for (String value : new String[] {"0", "1.5", "soon"}) {
      RetryState s = RetryState.create(retryAfter(300).build());
      s.readResetHeaders(HeaderList.of("retry-after", value));
      assertTrue(s.nextBackOff().toMillis() < 100, "exponential for Retry-After: " + value);
    }
  }

  @Test
  void aResetHeaderAboveMaxIntervalIsDiscardedNotCappedAndTheNextOneIsTried() {
    RetryState s = RetryState.create(retryAfter(10).build());
    s.readResetHeaders(HeaderList.of("retry-after", "60"));
    assertTrue(s.nextBackOff().toMillis() < 100, "60 s > 10 s max: discarded, exponential back-off");
    s.readResetHeaders(HeaderList.of("retry-after", "60", "x-ratelimit-reset", "3"));
    long wait = s.nextBackOff().toMillis();
    assertTrue(wait >= 3000 && wait < 4500, "the second header's 3 s: " + wait);
  }

  @Test
  void aUnixTimestampInThePastIsDiscarded() {
    RetryPolicy.ResetHeader unix = RetryPolicy.ResetHeader.newBuilder().setName("x")
        .setFormat(RetryPolicy.ResetHeaderFormat.UNIX_TIMESTAMP).build();
    assertNull(RetryState.parseInterval(unix, Long.toString(System.currentTimeMillis() / 1000 - 10)));
  }

  @Test
  void resetsAndTimeoutsRetryUnderResetFiveXxAndGatewayErrorButNotUnderStatusCodesAlone() {
    for (String on : new String[] {"reset", "5xx", "gateway-error"}) {
      RetryState s = RetryState.create(policy(on).build());
      assertTrue(s.wouldRetryFromReset(RetryState.Reset.LOCAL_RESET) != null, on);
      assertTrue(s.wouldRetryFromReset(RetryState.Reset.REMOTE_RESET) != null, on);
    }
    RetryState codes = RetryState.create(policy("retriable-status-codes,connect-failure").build());
    assertNull(codes.wouldRetryFromReset(RetryState.Reset.LOCAL_RESET));
    assertEquals("connect-failure", codes.wouldRetryFromReset(RetryState.Reset.CONNECTION_FAILURE));
    assertNull(RetryState.create(policy("reset").build()).wouldRetryFromReset(RetryState.Reset.OVERFLOW),
        "an overflow is never retried");
  }

  @Test
  void aResponseMarkedRateLimitedByAnotherEnvoyIsNotRetriedUnlessAsked() {
    HeaderList limited = HeaderList.of("x-envoy-ratelimited", "true");
    assertNull(RetryState.create(policy("5xx").build()).wouldRetryFromHeaders(503, limited));
    assertEquals("envoy-ratelimited",
        RetryState.create(policy("5xx,envoy-ratelimited").build()).wouldRetryFromHeaders(503, limited));
  }
  @Test
  void aMaxIntervalBelowTheBaseIntervalIsAConfigurationError() {
    RetryPolicy bad = RetryPolicy.newBuilder().setRetryOn("5xx").setRetryBackOff(RetryPolicy.RetryBackOff.newBuilder()
        .setBaseInterval(Durations.fromMillis(100)).setMaxInterval(Durations.fromMillis(50))).build();
    IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
        () -> RetryState.create(bad));
    assertTrue(e.getMessage().contains("max_interval"), e.getMessage());
  }

  @Test
  void theDefaultBackOffIs25MillisecondsDoublingUpTo250() {
    long[] max = new long[6];
    for (int i = 0; i < 400; i++) {
      RetryState s = RetryState.create(RetryPolicy.newBuilder().setRetryOn("5xx").build());
      for (int n = 0; n < 6; n++) {
        max[n] = Math.max(max[n], s.nextBackOff().toMillis());
      }
    }
    // next: 25, 50, 100, 200 (< 125 no longer: 250), 250, 250.
    long[] bound = {25, 50, 100, 200, 250, 250};
    for (int n = 0; n < 6; n++) {
      assertTrue(max[n] < bound[n] && max[n] >= bound[n] * 3 / 4, "retry " + (n + 1) + " in [0, " + bound[n] + "): " + max[n]);
    }
  }

  @Test
  void hostSelectionMaxAttemptsDefaultsToOneSoARetryMakesTwoPicks() {
    assertEquals(1, RetryState.create(policy("5xx").build()).hostSelectionMaxAttempts());
    assertEquals(1, RetryState.create(policy("5xx").setHostSelectionRetryMaxAttempts(0).build()).hostSelectionMaxAttempts());
    assertEquals(5, RetryState.create(policy("5xx").setHostSelectionRetryMaxAttempts(5).build()).hostSelectionMaxAttempts());
  }

  @Test
  void aResetHeaderIsReadLikeSimpleAtoiWithWhitespaceAndAPlusSign() {
    RetryPolicy.ResetHeader seconds = RetryPolicy.ResetHeader.newBuilder().setName("retry-after")
        .setFormat(RetryPolicy.ResetHeaderFormat.SECONDS).build();
    assertEquals(2000L, RetryState.parseInterval(seconds, " 2 "));
    assertEquals(3000L, RetryState.parseInterval(seconds, "+3"));
    assertNull(RetryState.parseInterval(seconds, "-1"));
    assertNull(RetryState.parseInterval(seconds, "Wed, 21 Oct 2015 07:28:00 GMT"), "HTTP dates are not parsed");
  }

  @Test
  void retriableHeadersRetryAResponseCarryingAMatchingHeader() {
    RetryState s = RetryState.create(policy("retriable-headers").addRetriableHeaders(
        io.envoyproxy.envoy.config.route.v3.HeaderMatcher.newBuilder().setName("x-retry-me").setPresentMatch(true)).build());
    assertEquals("retriable-headers x-retry-me", s.wouldRetryFromHeaders(200, HeaderList.of("x-retry-me", "1")));
    assertNull(s.wouldRetryFromHeaders(500, HeaderList.of()));
  }

  @Test
  void retriableRequestHeadersLeaveOtherRequestsWithoutRetries() {
    RetryPolicy p = policy("5xx").addRetriableRequestHeaders(io.envoyproxy.envoy.config.route.v3.HeaderMatcher.newBuilder()
        .setName(":method").setStringMatch(io.envoyproxy.envoy.type.matcher.v3.StringMatcher.newBuilder().setExact("GET")))
        .build();
    assertNull(RetryState.create(p, HeaderList.of(":method", "POST")).wouldRetryFromHeaders(503, HeaderList.of()));
    assertEquals("5xx", RetryState.create(p, HeaderList.of(":method", "GET")).wouldRetryFromHeaders(503, HeaderList.of()));
  }

  @Test
  void resetBeforeRequestRetriesOnlyWhileNothingWasSent() {
    RetryState s = RetryState.create(policy("reset-before-request").build());
    assertEquals("reset-before-request", s.wouldRetryFromReset(RetryState.Reset.CONNECTION_FAILURE, false));
    assertNull(s.wouldRetryFromReset(RetryState.Reset.REMOTE_RESET, true));
  }

  @Test
  void grpcStatusesRetryUnderTheirOwnNames() {
    RetryState s = RetryState.create(policy("unavailable,resource-exhausted").build());
    assertEquals("unavailable", s.wouldRetryFromHeaders(200, HeaderList.of("grpc-status", "14")));
    assertEquals("resource-exhausted", s.wouldRetryFromHeaders(200, HeaderList.of("grpc-status", "8")));
    assertNull(s.wouldRetryFromHeaders(200, HeaderList.of("grpc-status", "13")));
  }

  @Test
  void previousPrioritiesReadsItsUpdateFrequency() {
    RetryPolicy p = policy("5xx").setRetryPriority(RetryPolicy.RetryPriority.newBuilder()
        .setName("envoy.retry_priorities.previous_priorities").setTypedConfig(com.google.protobuf.Any.pack(
            io.envoyproxy.envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig.newBuilder()
                .setUpdateFrequency(2).build()))).build();
    PreviousPriorities plugin = RetryState.create(p).retryPriority();
    PriorityLoad original = PriorityLoad.compute(java.util.List.of(new PriorityLoad.Level(1, 1), new PriorityLoad.Level(1, 1)));
    plugin.onHostAttempted(0);
    assertArrayEquals(new int[] {100, 0}, plugin.determine(original).load(), "frequency 2: one attempt changes nothing");
    plugin.onHostAttempted(0);
    assertArrayEquals(new int[] {0, 100}, plugin.determine(original).load());
  }
}
