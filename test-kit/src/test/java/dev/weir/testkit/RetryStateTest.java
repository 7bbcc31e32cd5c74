package dev.weir.testkit;

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
}
