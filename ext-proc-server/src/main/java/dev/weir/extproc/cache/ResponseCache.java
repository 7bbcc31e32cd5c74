package dev.weir.extproc.cache;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.Expiry;
import dev.weir.config.v1.CacheSettings;
import dev.weir.config.v1.RedisSettings;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The gateway's answer cache: entries in Caffeine in this process and, when Redis is configured,
 * in Redis for every replica; the semantic tier's index beside them. A store error is logged and
 * makes a miss, never a failed request. Thread-safe; survives config reloads that keep the Redis
 * settings.
 */
public final class ResponseCache implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ResponseCache.class);

  /** A served entry: which tier found it, and the similarity for a semantic hit (1 for exact). */
  public record Hit(CachedAnswer answer, String tier, double similarity) {}

  private final Cache<String, CachedAnswer> local;
  private final RedisCacheStore redis;
  private final SemanticTier semantic;
  private final int maxEntryBytes;
  /** Writes to Redis and index updates from other replicas, off the exchange's thread. */
  private final ExecutorService background = new ThreadPoolExecutor(1, 1, 0, TimeUnit.MILLISECONDS,
      new LinkedBlockingQueue<>(10_000), r -> {
        Thread t = new Thread(r, "weir-cache-background");
        t.setDaemon(true);
        return t;
      }, new ThreadPoolExecutor.DiscardPolicy());

  public ResponseCache(CacheSettings settings, RedisSettings redisSettings) {
    this(settings, redisSettings, SemanticTier.create(settings));
  }

  public ResponseCache(CacheSettings settings, RedisSettings redisSettings, SemanticTier semantic) {
    this.maxEntryBytes = settings.getMaxEntryBytes();
    this.semantic = semantic;
    this.local = Caffeine.newBuilder()
        .maximumSize(settings.getMaxEntries())
        .expireAfter(Expiry.creating((String k, CachedAnswer a) ->
            Duration.ofMillis(Math.max(0, a.expiresAtMillis() - System.currentTimeMillis()))))
        .removalListener((String k, CachedAnswer a, com.github.benmanes.caffeine.cache.RemovalCause cause) -> {
          if (a != null && cause != com.github.benmanes.caffeine.cache.RemovalCause.REPLACED) {
            semantic.remove(a);
          }
        })
        .build();
    this.redis = redisSettings == null ? null
        : new RedisCacheStore(redisSettings, settings.getMaxEntries(), m -> background.execute(() -> onEvent(m)));
    if (redis != null) {
      background.execute(this::rebuild);
    }
  }

  /** True when some level of the config has a cache policy (else no Redis connection is made for it). */
  public static boolean configured(dev.weir.config.v1.GatewayConfig config) {
    return config.getPolicies().hasCache()
        || config.getModelsList().stream().anyMatch(m -> m.getPolicies().hasCache())
        || config.getConsumersList().stream().anyMatch(c -> c.hasCache());
  }

  /** True when entries are shared through Redis. */
  public boolean shared() {
    return redis != null;
  }

  /** Learns every live entry from Redis: a replica that starts knows what the others stored. */
  private void rebuild() {
    if (!redis.tryConnect()) {
      log.warn("cache: Redis unreachable at start; this replica's semantic index starts empty");
      return;
    }
    long now = System.currentTimeMillis();
    try {
      int[] n = {0};
      redis.forEachLive(now, a -> {
        remember(a);
        n[0]++;
      });
      log.info("cache: learnt {} entries from Redis", n[0]);
    } catch (RuntimeException e) {
      log.warn("cache: could not read entries from Redis at start: {}", e.toString());
    }
  }

  private void onEvent(String message) {
    String[] parts = message.split(" ");
    if (parts[0].equals("put") && parts.length == 3) {
      String id = parts[1] + ":" + parts[2];
      if (local.getIfPresent(id) == null) {
        CachedAnswer a = redis.get(parts[1], parts[2]);
        if (a != null) {
          remember(a);
        }
      }
    } else if (parts[0].equals("flush") && parts.length == 3) {
      flushLocal(CachedAnswer.Selector.decode(parts[1], parts[2]));
    }
  }

  private void remember(CachedAnswer a) {
    if (!a.expired(System.currentTimeMillis())) {
      local.put(a.partition() + ":" + a.key(), a);
      semantic.add(a);
    }
  }

  /** The exact tier: this process first, then Redis; null on a miss or a store error. */
  public Hit exact(CacheKey key) {
    long now = System.currentTimeMillis();
    CachedAnswer a = local.getIfPresent(key.partition() + ":" + key.key());
    if (a == null && redis != null) {
      try {
        a = redis.get(key.partition(), key.key());
      } catch (RuntimeException e) {
        log.debug("cache: Redis lookup failed, a miss: {}", e.toString());
        return null;
      }
      if (a != null && !a.expired(now)) {
        remember(a);
      }
    }
    return a == null || a.expired(now) || !a.partition().equals(key.partition()) ? null : new Hit(a, "exact", 1);
  }

  /** The semantic tier: the nearest stored prompt in the key's partition that passes the checks. */
  public Hit semantic(CacheKey key, CacheRules rules) {
    if (key.lastTurnText() == null) {
      return null;
    }
    SemanticTier.Match m = semantic.find(key.partition(), key.lastTurnText(), rules.checks());
    if (m == null) {
      return null;
    }
    CachedAnswer a = local.getIfPresent(m.partition() + ":" + m.key());
    return a == null || a.expired(System.currentTimeMillis()) ? null : new Hit(a, "semantic", m.similarity());
  }

  /** Stores an answer here and, in the background, in Redis; a failure only loses the entry. */
  public boolean store(CachedAnswer a) {
    if (a.answerJson().length() > maxEntryBytes) {
      return false;
    }
    remember(a);
    if (redis != null) {
      background.execute(() -> {
        try {
          redis.put(a, System.currentTimeMillis());
        } catch (RuntimeException e) {
          log.debug("cache: Redis store failed, kept in this process only: {}", e.toString());
        }
      });
    }
    return true;
  }

  /** Drops the entries {@code which} selects here and, through Redis, in every replica. */
  public long flush(CachedAnswer.Selector which) {
    long n = flushLocal(which);
    if (redis != null) {
      try {
        n = Math.max(n, redis.flush(which));
      } catch (RuntimeException e) {
        log.warn("cache: Redis flush failed: {}", e.toString());
      }
    }
    return n;
  }

  private long flushLocal(CachedAnswer.Selector which) {
    long before = local.estimatedSize();
    if (which.equals(CachedAnswer.Selector.ALL)) {
      local.invalidateAll();
    } else {
      local.asMap().values().removeIf(which::matches);
    }
    local.cleanUp();
    return before - local.estimatedSize();
  }

  /** Entries in this process (for tests and the benchmark). */
  public long localSize() {
    local.cleanUp();
    return local.estimatedSize();
  }

  public SemanticTier semanticTier() {
    return semantic;
  }

  @Override
  public void close() {
    background.shutdownNow();
    if (redis != null) {
      redis.close();
    }
    semantic.close();
  }
}
