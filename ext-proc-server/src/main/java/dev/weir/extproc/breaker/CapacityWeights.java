package dev.weir.extproc.breaker;

import java.util.Map;

/**
 * An endpoint weight from what a backend says it has left: the smaller of
 * {@code x-ratelimit-remaining-tokens / x-ratelimit-limit-tokens} and the same for requests
 * (Azure OpenAI and OpenAI send both), scaled to Envoy's 1-128 and rounded to sixteenths so that
 * small changes do not push a new snapshot to every Envoy.
 */
public final class CapacityWeights {
  /** The weight of a member with all its capacity left. */
  public static final int FULL = 128;

  private CapacityWeights() {}

  /** The weight, or null when the answer carries neither pair of headers. */
  public static Integer weight(Map<String, String> headers) {
    double share = Math.min(share(headers, "tokens"), share(headers, "requests"));
    if (share > 1) {
      return null; // neither pair present
    }
    long sixteenths = Math.round(Math.max(0, share) * 16);
    return (int) Math.max(1, sixteenths * (FULL / 16));
  }

  private static double share(Map<String, String> headers, String kind) {
    try {
      String remaining = headers.get("x-ratelimit-remaining-" + kind);
      String limit = headers.get("x-ratelimit-limit-" + kind);
      if (remaining == null || limit == null) {
        return 2;
      }
      double l = Double.parseDouble(limit.strip());
      return l <= 0 ? 2 : Math.min(1, Double.parseDouble(remaining.strip()) / l);
    } catch (NumberFormatException e) {
      return 2;
    }
  }
}
