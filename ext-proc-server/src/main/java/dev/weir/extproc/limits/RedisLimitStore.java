package dev.weir.extproc.limits;

import dev.weir.config.v1.RedisSettings;
import dev.weir.extproc.redis.RedisConnector;
import io.lettuce.core.RedisException;
import io.lettuce.core.RedisNoScriptException;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.cluster.api.sync.RedisClusterCommands;
import java.util.List;

/**
 * Limit counters in Redis through Lettuce, shared by every ext-proc replica. Each operation is one
 * Lua script, so it is atomic on its key, and the scripts read Redis's clock ({@code TIME}), not
 * the replica's. Standalone, Sentinel ({@code redis-sentinel://}) and Cluster URIs; every key is
 * one slot, so Cluster needs no hash tags.
 *
 * <p>Blocking: calls wait on Lettuce's sync API for at most {@code timeoutMillis}. The ext_proc
 * server runs exchanges on virtual threads, so a wait parks a virtual thread, never a Netty
 * event loop. {@link RedisConnector} opens the connection: while disconnected, commands are
 * rejected at once rather than queued, so an outage costs each request microseconds, not the
 * timeout. Every Redis failure is an {@link UnavailableException}; each limit fails open or closed.
 */
public final class RedisLimitStore implements LimitStore, AutoCloseable {
  static final String WINDOW_RESERVE = """
      local t = redis.call('TIME')
      local now = tonumber(t[1])
      local limit, cost, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
      local fields = redis.call('HGETALL', KEYS[1])
      local sum, buckets = 0, {}
      for i = 1, #fields, 2 do
        local sec, v = tonumber(fields[i]), tonumber(fields[i + 1])
        if sec <= now - window - 1 then
          redis.call('HDEL', KEYS[1], fields[i])
        else
          sum = sum + v
          buckets[#buckets + 1] = {sec, v}
        end
      end
      if sum + cost <= limit then
        redis.call('HINCRBY', KEYS[1], now, cost)
        redis.call('EXPIRE', KEYS[1], window + 5)
        return {1, limit - sum - cost, 0, now}
      end
      local retry = window
      if cost <= limit then
        table.sort(buckets, function(a, b) return a[1] < b[1] end)
        local need, freed = sum + cost - limit, 0
        for _, b in ipairs(buckets) do
          freed = freed + b[2]
          if freed >= need then retry = math.max(1, b[1] + window + 1 - now); break end
        end
      end
      return {0, math.max(0, limit - sum), retry, now}
      """;
  static final String WINDOW_ADJUST = """
      local now = tonumber(redis.call('TIME')[1])
      local sec, delta, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
      if delta > 0 then
        redis.call('HINCRBY', KEYS[1], now, delta)
        redis.call('EXPIRE', KEYS[1], window + 5)
      elseif sec > now - window - 1 then
        redis.call('HINCRBY', KEYS[1], sec, delta)
      end
      return 1
      """;
  static final String COUNTER_RESERVE = """
      local used = tonumber(redis.call('GET', KEYS[1]) or '0')
      local limit, cost = tonumber(ARGV[1]), tonumber(ARGV[2])
      if used + cost <= limit then
        local n = redis.call('INCRBY', KEYS[1], cost)
        redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
        return {1, limit - n}
      end
      return {0, math.max(0, limit - used)}
      """;
  static final String COUNTER_ADJUST = """
      redis.call('INCRBY', KEYS[1], tonumber(ARGV[1]))
      redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
      return 1
      """;

  /** The window's sum, read only: buckets that left the window are skipped, not deleted. */
  static final String WINDOW_PEEK = """
      local now = tonumber(redis.call('TIME')[1])
      local window = tonumber(ARGV[1])
      local fields = redis.call('HGETALL', KEYS[1])
      local sum = 0
      for i = 1, #fields, 2 do
        if tonumber(fields[i]) > now - window - 1 then sum = sum + tonumber(fields[i + 1]) end
      end
      return {sum}
      """;
  static final String COUNTER_PEEK = """
      return {tonumber(redis.call('GET', KEYS[1]) or '0')}
      """;

  private final String prefix;
  private final RedisConnector<RedisClusterCommands<String, String>> connector;
  private volatile long clockOffsetMillis;
  private volatile long clockCheckedAt;

  /** Does not connect yet: the first use does, so a gateway can start while Redis is down. */
  public RedisLimitStore(RedisSettings settings, String prefix) {
    this.prefix = prefix;
    this.connector = new RedisConnector<>(settings, RedisConnector.Connections::sync);
  }

  private RedisClusterCommands<String, String> commands() {
    try {
      return connector.get();
    } catch (RedisException e) {
      throw new UnavailableException(e.getMessage(), e);
    }
  }

  @Override
  public Window reserveWindow(String key, long limit, long cost) {
    List<Object> r = run(WINDOW_RESERVE, key, limit, cost, WINDOW_SECONDS);
    return new Window(num(r, 0) == 1, num(r, 1), num(r, 2), num(r, 3));
  }

  @Override
  public void adjustWindow(String key, long second, long delta) {
    run(WINDOW_ADJUST, key, second, delta, WINDOW_SECONDS);
  }

  @Override
  public Counter reserveCounter(String key, long limit, long cost, long ttlSeconds) {
    List<Object> r = run(COUNTER_RESERVE, key, limit, cost, ttlSeconds);
    return new Counter(num(r, 0) == 1, num(r, 1));
  }

  @Override
  public void adjustCounter(String key, long delta, long ttlSeconds) {
    run(COUNTER_ADJUST, key, delta, ttlSeconds);
  }

  @Override
  public long windowUsed(String key) {
    return num(run(WINDOW_PEEK, key, WINDOW_SECONDS), 0);
  }

  @Override
  public long counterUsed(String key) {
    return num(run(COUNTER_PEEK, key), 0);
  }

  /** Redis's clock, from an offset refreshed every 10 s (one TIME call, not one per request). */
  @Override
  public long nowMillis() {
    long local = System.currentTimeMillis();
    if (local - clockCheckedAt > 10_000) {
      try {
        List<String> t = commands().time();
        long redis = Long.parseLong(t.get(0)) * 1000 + Long.parseLong(t.get(1)) / 1000;
        clockOffsetMillis = redis - System.currentTimeMillis();
        clockCheckedAt = local;
      } catch (RedisException e) {
        throw new UnavailableException("Redis TIME failed", e);
      }
    }
    return local + clockOffsetMillis;
  }

  private List<Object> run(String script, String key, Object... args) {
    String[] argv = new String[args.length];
    for (int i = 0; i < args.length; i++) {
      argv[i] = String.valueOf(args[i]);
    }
    String[] keys = {prefix + key};
    String sha = Sha1.of(script);
    RedisClusterCommands<String, String> scripts = commands();
    try {
      try {
        return scripts.evalsha(sha, ScriptOutputType.MULTI, keys, argv);
      } catch (RedisNoScriptException e) {
        // First use, or Redis restarted and lost its script cache.
        return scripts.eval(script, ScriptOutputType.MULTI, keys, argv);
      }
    } catch (RedisException e) {
      throw new UnavailableException("Redis: " + e.getMessage(), e);
    }
  }

  private static long num(List<Object> r, int i) {
    return ((Number) r.get(i)).longValue();
  }

  @Override
  public void close() {
    connector.close();
  }

  /** SHA-1 hex of a script, as EVALSHA wants it. */
  static final class Sha1 {
    private static final java.util.Map<String, String> CACHE = new java.util.concurrent.ConcurrentHashMap<>();

    static String of(String script) {
      return CACHE.computeIfAbsent(script, s -> {
        try {
          return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-1")
              .digest(s.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
        } catch (java.security.NoSuchAlgorithmException e) {
          throw new IllegalStateException(e);
        }
      });
    }
  }
}
