package dev.weir.extproc.mcp;

import dev.weir.config.v1.FailureMode;
import dev.weir.extproc.limits.LimitStore;
import dev.weir.extproc.limits.LocalLimitStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tool calls per minute, per consumer × tool and per server, on the same stores as token limits
 * (the sliding 60-second window of {@link LimitStore}: in-process, or Redis shared by every
 * replica). With the store unreachable a server's {@code onStoreFailure} decides: closed refuses,
 * open counts in this process instead.
 */
public final class CallLimits {
  private static final Logger log = LoggerFactory.getLogger(CallLimits.class);

  /** The verdict on one call. */
  public sealed interface Verdict permits Admitted, Refused {}

  /** The call may go on. */
  public record Admitted() implements Verdict {}

  /**
   * The call is refused.
   *
   * @param storeDown true when the store was unreachable and the server fails closed
   */
  public record Refused(String limit, long retryAfterSeconds, boolean storeDown) implements Verdict {}

  private static final Admitted ADMITTED = new Admitted();

  private final LimitStore shared;
  private final LocalLimitStore fallback;

  public CallLimits(LimitStore shared, LocalLimitStore fallback) {
    this.shared = shared;
    this.fallback = fallback;
  }

  /** Takes one call of {@code tool} on {@code server} for {@code consumer}; the server's limit first. */
  public Verdict admit(McpServers.Server server, String consumer, ToolPolicy policy, String tool) {
    long serverLimit = server.config().getCallsPerMinute();
    boolean open = server.config().getOnStoreFailure() == FailureMode.OPEN;
    if (serverLimit > 0) {
      Verdict v = take("mcp|" + server.name() + "|calls", serverLimit, "server " + server.name(), open);
      if (v instanceof Refused) {
        return v;
      }
    }
    if (policy.callsPerMinute() > 0) {
      // The tool name is the client's, but it only reaches a store key (bounded by the store's
      // expiry), never a metric label.
      return take("mcp|" + server.name() + "|" + consumer + "|" + tool + "|calls", policy.callsPerMinute(),
          "consumer " + consumer + " on tool " + tool, open);
    }
    return ADMITTED;
  }

  private Verdict take(String key, long limit, String what, boolean open) {
    LimitStore.Window w;
    try {
      w = shared.reserveWindow(key, limit, 1);
    } catch (LimitStore.UnavailableException e) {
      log.warn("limit store unavailable for MCP calls of {} ({}): failing {}", what, e.getMessage(),
          open ? "open to local counters" : "closed");
      if (!open) {
        return new Refused(what, 1, true);
      }
      w = fallback.reserveWindow(key, limit, 1);
    }
    return w.admitted() ? ADMITTED : new Refused(what, Math.max(1, w.retryAfterSeconds()), false);
  }
}
