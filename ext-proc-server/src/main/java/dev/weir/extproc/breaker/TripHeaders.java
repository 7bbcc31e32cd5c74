package dev.weir.extproc.breaker;

import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.Map;
import java.util.OptionalLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * How long a backend says to stay away, from its answer's headers: {@code retry-after-ms} (Azure
 * OpenAI), {@code Retry-After} in seconds or as an HTTP date (RFC 9110 §10.2.3), else the longer of
 * {@code x-ratelimit-reset-requests} and {@code x-ratelimit-reset-tokens} (OpenAI writes them as
 * durations such as {@code 6m0s} or {@code 20ms}; a bare number is seconds).
 */
public final class TripHeaders {
  private static final Pattern DURATION = Pattern.compile("(\\d+(?:\\.\\d+)?)(ms|h|m|s)");

  private TripHeaders() {}

  /** Milliseconds to stay away, or empty when the answer says nothing usable. */
  public static OptionalLong millis(Map<String, String> headers, long nowMillis) {
    OptionalLong ms = number(headers.get("retry-after-ms"), 1);
    if (ms.isPresent()) {
      return ms;
    }
    String retryAfter = headers.get("retry-after");
    if (retryAfter != null) {
      OptionalLong seconds = number(retryAfter, 1000);
      if (seconds.isPresent()) {
        return seconds;
      }
      try {
        long at = ZonedDateTime.parse(retryAfter.strip(), DateTimeFormatter.RFC_1123_DATE_TIME).toInstant().toEpochMilli();
        return OptionalLong.of(Math.max(0, at - nowMillis));
      } catch (DateTimeParseException e) {
        // not a date either: fall through to the reset headers
      }
    }
    OptionalLong requests = duration(headers.get("x-ratelimit-reset-requests"));
    OptionalLong tokens = duration(headers.get("x-ratelimit-reset-tokens"));
    if (requests.isPresent() && tokens.isPresent()) {
      return OptionalLong.of(Math.max(requests.getAsLong(), tokens.getAsLong()));
    }
    return requests.isPresent() ? requests : tokens;
  }

  private static OptionalLong number(String value, long unitMillis) {
    if (value == null || !value.strip().matches("\\d{1,9}(\\.\\d{1,6})?")) {
      return OptionalLong.empty();
    }
    return OptionalLong.of(Math.round(Double.parseDouble(value.strip()) * unitMillis));
  }

  /** A Go-style duration ("1h2m3.5s", "20ms") or a bare number of seconds. */
  static OptionalLong duration(String value) {
    if (value == null) {
      return OptionalLong.empty();
    }
    String v = value.strip();
    OptionalLong bare = number(v, 1000);
    if (bare.isPresent() || v.isEmpty() || v.length() > 32) {
      return bare;
    }
    Matcher m = DURATION.matcher(v);
    long total = 0;
    int end = 0;
    while (m.find()) {
      if (m.start() != end) {
        return OptionalLong.empty();
      }
      double n = Double.parseDouble(m.group(1));
      total += Math.round(n * switch (m.group(2)) {
        case "h" -> 3_600_000;
        case "m" -> 60_000;
        case "s" -> 1000;
        default -> 1;
      });
      end = m.end();
    }
    return end == v.length() ? OptionalLong.of(total) : OptionalLong.empty();
  }
}
