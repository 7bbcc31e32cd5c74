package dev.weir.extproc.mcp;

import dev.weir.config.ApiKeys;
import dev.weir.extproc.limits.LimitStore;

/**
 * Binds each MCP session id to the consumer whose request opened it, so that another consumer
 * presenting the id is answered as for an unknown session (HTTP 404, which the Streamable HTTP
 * transport tells clients to answer with a new initialize). Bindings live on the limit store:
 * Redis shared by every replica when configured, else in this process; each expires after
 * {@link #IDLE_SECONDS} without use. Blocking: one or two store calls per request, on the
 * exchange's virtual thread, like {@link CallLimits}.
 */
public final class McpSessions {
  /** A binding not used for this long is forgotten (a client that comes back initializes anew). */
  public static final long IDLE_SECONDS = 24 * 3600;

  /** What a session check found. */
  public enum Check {
    /** The consumer opened the session (or the request names none). */
    OWNED,
    /** The session is another consumer's, or unknown to the gateway. */
    NOT_FOUND,
    /** The store cannot be reached. */
    STORE_DOWN
  }

  private final LimitStore store;

  public McpSessions(LimitStore store) {
    this.store = store;
  }

  /** Records that {@code consumer} opened {@code sessionId} on {@code server}. */
  public void bind(String server, String sessionId, String consumer) {
    store.adjustCounter(key(server, sessionId, consumer), 1, IDLE_SECONDS);
  }

  /** Whether {@code consumer} may use {@code sessionId} on {@code server}; a use keeps it bound. */
  public Check check(String server, String sessionId, String consumer) {
    String key = key(server, sessionId, consumer);
    try {
      if (store.counterUsed(key) <= 0) {
        return Check.NOT_FOUND;
      }
      store.adjustCounter(key, 0, IDLE_SECONDS);
      return Check.OWNED;
    } catch (LimitStore.UnavailableException e) {
      return Check.STORE_DOWN;
    }
  }

  /**
   * One key per (server, session, consumer): a consumer holds a key only for the sessions it
   * opened. The id is hashed so a client's arbitrary header never becomes a store key as it is.
   */
  private static String key(String server, String sessionId, String consumer) {
    return "mcp|" + server + "|session|" + ApiKeys.hash(sessionId).substring("sha256:".length()) + "|" + consumer;
  }
}
