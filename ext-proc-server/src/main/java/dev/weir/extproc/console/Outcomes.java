package dev.weir.extproc.console;

import java.util.List;
import java.util.Set;

/**
 * Sorts the outcome an exchange is recorded with ({@code weir_exchanges_total{outcome}}) into the
 * few groups the console counts: served, cached, blocked (content safety), limited (rate limits,
 * quotas, budgets), errors (the gateway's or a backend's), rejected (the client's mistakes) and
 * client_closed.
 */
public final class Outcomes {
  /** The groups, in the order the console shows them. */
  public static final List<String> GROUPS = List.of("served", "cached", "blocked", "limited", "errors", "rejected",
      "client_closed");
  private static final Set<String> LIMITED = Set.of("rejected_tokens_per_minute_exceeded",
      "rejected_requests_per_minute_exceeded", "rejected_token_quota_exceeded", "rejected_budget_exceeded", "limited");

  private Outcomes() {}

  public static String group(String outcome) {
    if (outcome == null) {
      return "errors";
    }
    if (outcome.equals("served") || outcome.equals("answered") || outcome.equals("failed_over")) {
      return "served";
    }
    if (outcome.equals("cached")) {
      return "cached";
    }
    if (outcome.equals("rejected_content_filter") || outcome.equals("blocked")) {
      return "blocked";
    }
    if (LIMITED.contains(outcome)) {
      return "limited";
    }
    if (outcome.equals("client_closed")) {
      return "client_closed";
    }
    // A backend's failure, a cut stream, an unreachable limit store or a gateway fault.
    if (outcome.contains("error") || outcome.contains("interrupted") || outcome.contains("unavailable")
        || outcome.startsWith("failed")) {
      return "errors";
    }
    return outcome.startsWith("rejected_") ? "rejected" : "errors";
  }
}
