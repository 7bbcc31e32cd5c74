package dev.weir.extproc.usage;

/**
 * What one consumer spent on one model over some time: the numbers chargeback adds up. Money is
 * kept in micro-dollars so sums are exact whichever replica or store added them.
 */
public record UsageAmounts(long requests, long promptTokens, long completionTokens, long cachedTokens,
    long reasoningTokens, long costMicros, long cachedSavingsMicros, long cachedRequests) {
  /** Nothing yet. */
  public static final UsageAmounts ZERO = new UsageAmounts(0, 0, 0, 0, 0, 0, 0, 0);

  /** The names of the fields, as the stores and the /usage answer spell them. */
  public static final java.util.List<String> FIELDS = java.util.List.of("requests", "promptTokens",
      "completionTokens", "cachedTokens", "reasoningTokens", "costMicros", "cachedSavingsMicros", "cachedRequests");

  public UsageAmounts plus(UsageAmounts o) {
    return new UsageAmounts(requests + o.requests, promptTokens + o.promptTokens,
        completionTokens + o.completionTokens, cachedTokens + o.cachedTokens, reasoningTokens + o.reasoningTokens,
        costMicros + o.costMicros, cachedSavingsMicros + o.cachedSavingsMicros, cachedRequests + o.cachedRequests);
  }

  /** The values in {@link #FIELDS} order. */
  public long[] values() {
    return new long[] {requests, promptTokens, completionTokens, cachedTokens, reasoningTokens, costMicros,
        cachedSavingsMicros, cachedRequests};
  }

  /** From values in {@link #FIELDS} order. */
  public static UsageAmounts of(long[] v) {
    return new UsageAmounts(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]);
  }

  /** The amounts of one usage event (one request). */
  public static UsageAmounts of(dev.weir.events.v1.UsageEvent e) {
    boolean cached = "cached".equals(e.getOutcome());
    return new UsageAmounts(1, e.getPromptTokens(), e.getCompletionTokens(), e.getCachedTokens(),
        e.getReasoningTokens(), Math.round(e.getCostUsd() * 1e6), Math.round(e.getCachedSavingsUsd() * 1e6),
        cached ? 1 : 0);
  }
}
