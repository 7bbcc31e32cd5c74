package dev.weir.extproc.mcp;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.Ticker;
import dev.weir.config.ApiKeys;
import dev.weir.extproc.limits.LimitStore;
import java.time.Duration;

/**
 * Binds each MCP session id to the consumer whose request opened it, so that another consumer
 * presenting the id is answered as for an unknown session (HTTP 404, which the Streamable HTTP
 * transport tells clients to answer with a new initialize). Bindings live in Redis (on the limit
 * store) when configured, shared by every replica; else in a cache of this process of their own,
 * so that a consumer opening session after session cannot push other consumers' limit counters
 * out of the local limit store. Each expires after {@link #IDLE_SECONDS} without use. Blocking
 * with Redis: one or two store calls per request, on the exchange's virtual thread, like
 * {@link CallLimits}.
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

  /** Bindings one replica keeps without Redis; past this, the least used are forgotten. */
  public static final long LOCAL_MAX_BINDINGS = 100_000;

  /** The shared store (Redis), or null when bindings are kept in {@link #local}. */
  private final LimitStore store;
  private final Cache<String, Boolean> local;

  private McpSessions(LimitStore store, Cache<String, Boolean> local) {
    this.store = store;
    this.local = local;
  }

  /** Bindings on {@code store} (Redis), which every replica shares. */
  public static McpSessions shared(LimitStore store) {
    return new McpSessions(store, null);
  }

  /** Bindings in this process, apart from the limit counters. */
  public static McpSessions local() {
    return local(LOCAL_MAX_BINDINGS, Ticker.systemTicker());
  }

  static McpSessions local(long maxBindings, Ticker ticker) {
    return new McpSessions(null, Caffeine.newBuilder()
        .maximumSize(maxBindings)
        .expireAfterAccess(Duration.ofSeconds(IDLE_SECONDS))
        .ticker(ticker)
        .build());
  }

  /** Records that {@code consumer} opened {@code sessionId} on {@code server}. */
  public void bind(String server, String sessionId, String consumer) {
    if (local != null) {
      local.put(key(server, sessionId, consumer), Boolean.TRUE);
      return;
    }
    store.adjustCounter(key(server, sessionId, consumer), 1, IDLE_SECONDS);
  }

  /** Whether {@code consumer} may use {@code sessionId} on {@code server}; a use keeps it bound. */
  public Check check(String server, String sessionId, String consumer) {
    String key = key(server, sessionId, consumer);
    if (local != null) {
      return local.getIfPresent(key) != null ? Check.OWNED : Check.NOT_FOUND;
    }
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
