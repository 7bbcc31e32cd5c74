package dev.weir.extproc.cache;

import dev.weir.config.v1.RedisSettings;
import dev.weir.extproc.redis.RedisConnector;
import io.lettuce.core.KeyValue;
import io.lettuce.core.Range;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.cluster.api.sync.RedisClusterCommands;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.codec.RedisCodec;
import io.lettuce.core.codec.StringCodec;
import io.lettuce.core.pubsub.RedisPubSubAdapter;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Cached answers in Redis through Lettuce, shared by every replica: one string per entry with its
 * TTL, a sorted set of entries by expiry that caps their number (the soonest to expire go first),
 * and a pub/sub channel on which replicas announce new entries and flushes, so each can keep its
 * own semantic index. Any Redis failure is reported as an exception the caller turns into a miss.
 *
 * <p>Blocking: calls wait on Lettuce's sync API for at most the configured {@code timeoutMillis};
 * exchanges run on virtual threads, so a wait never holds a Netty event loop. {@link RedisConnector}
 * opens the connections (standalone, Sentinel and, with {@code redis.cluster}, Cluster): while
 * disconnected, commands are rejected at once rather than queued.
 */
public final class RedisCacheStore implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(RedisCacheStore.class);
  /**
   * Every key carries the hash tag {@code {weir:cache}}, so all of them live in one slot of a Redis
   * Cluster: the store script may then touch entries it cannot declare (those the cap evicts), and
   * a flush reads them in one batch. The cache is one node's worth of data in a cluster.
   */
  static final String PREFIX = "{weir:cache}:";
  static final String ENTRY = PREFIX + "e:";
  static final String ORDER = PREFIX + "order";
  static final String CHANNEL = "weir:cache:events";
  /** KEYS: entry, order. ARGV: value, ttl ms, expiry ms, member, max entries, entry prefix, now ms. */
  static final String PUT = """
      redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
      redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[7])
      redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
      local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[5])
      if over > 0 then
        local old = redis.call('ZPOPMIN', KEYS[2], over)
        for i = 1, #old, 2 do redis.call('DEL', ARGV[6] .. old[i]) end
      end
      return 1
      """;
  private static final RedisCodec<String, byte[]> CODEC = RedisCodec.of(StringCodec.UTF8, ByteArrayCodec.INSTANCE);

  private final int maxEntries;
  private final RedisConnector<RedisClusterCommands<String, byte[]>> connector;

  /**
   * Does not connect yet: the first use does, so a gateway starts while Redis is down.
   *
   * @param onEvent receives each message of the channel ({@code put <partition> <key>} or
   *     {@code flush <consumer> <model>}, {@code *} for any), this replica's own included
   */
  public RedisCacheStore(RedisSettings settings, int maxEntries, Consumer<String> onEvent) {
    this.maxEntries = maxEntries;
    this.connector = new RedisConnector<>(settings, connections -> {
      RedisClusterCommands<String, byte[]> sync = connections.sync(CODEC);
      StatefulRedisPubSubConnection<String, String> sub = connections.pubSub();
      sub.addListener(new RedisPubSubAdapter<>() {
        @Override
        public void message(String channel, String message) {
          try {
            onEvent.accept(message);
          } catch (RuntimeException e) {
            log.warn("cache event {} failed: {}", message, e.toString());
          }
        }
      });
      sub.sync().subscribe(CHANNEL);
      return sync;
    });
  }

  private RedisClusterCommands<String, byte[]> commands() {
    return connector.get();
  }

  /** Connects now if it can (at start, so this replica hears about new entries at once). */
  public boolean tryConnect() {
    return connector.tryConnect();
  }

  public CachedAnswer get(String partition, String key) {
    byte[] v = commands().get(ENTRY + partition + ":" + key);
    return v == null ? null : CachedAnswer.fromBytes(v);
  }

  public void put(CachedAnswer a, long nowMillis) {
    String member = a.partition() + ":" + a.key();
    byte[][] args = {
        a.toBytes(), bytes(Long.toString(Math.max(1, a.expiresAtMillis() - nowMillis))),
        bytes(Long.toString(a.expiresAtMillis())), bytes(member), bytes(Integer.toString(maxEntries)),
        bytes(ENTRY), bytes(Long.toString(nowMillis))};
    RedisClusterCommands<String, byte[]> c = commands();
    c.eval(PUT, ScriptOutputType.INTEGER, new String[] {ENTRY + member, ORDER}, args);
    c.publish(CHANNEL, bytes("put " + a.partition() + " " + a.key()));
  }

  /** Every live entry (for a replica's semantic index at start), read in batches. */
  public void forEachLive(long nowMillis, Consumer<CachedAnswer> sink) {
    RedisClusterCommands<String, byte[]> c = commands();
    List<byte[]> members = c.zrangebyscore(ORDER, Range.create((double) nowMillis, Double.POSITIVE_INFINITY));
    for (int i = 0; i < members.size(); i += 500) {
      List<String> keys = new ArrayList<>();
      for (byte[] m : members.subList(i, Math.min(members.size(), i + 500))) {
        keys.add(ENTRY + new String(m, StandardCharsets.UTF_8));
      }
      for (KeyValue<String, byte[]> kv : c.mget(keys.toArray(String[]::new))) {
        if (kv.hasValue()) {
          CachedAnswer a = CachedAnswer.fromBytes(kv.getValue());
          if (a != null) {
            sink.accept(a);
          }
        }
      }
    }
  }

  /**
   * Deletes the entries {@code which} selects and tells every replica. Entries are read in
   * batches to see their labels (the partition is a hash); an entry that cannot be read is kept
   * unless every entry goes.
   */
  public long flush(CachedAnswer.Selector which) {
    RedisClusterCommands<String, byte[]> c = commands();
    boolean all = which.equals(CachedAnswer.Selector.ALL);
    List<byte[]> members = c.zrange(ORDER, 0, -1);
    long deleted = 0;
    for (int i = 0; i < members.size(); i += 500) {
      List<byte[]> batch = members.subList(i, Math.min(members.size(), i + 500));
      String[] keys = batch.stream().map(m -> ENTRY + new String(m, StandardCharsets.UTF_8)).toArray(String[]::new);
      List<KeyValue<String, byte[]>> values = all ? List.of() : c.mget(keys);
      for (int k = 0; k < batch.size(); k++) {
        CachedAnswer a = all || !values.get(k).hasValue() ? null : CachedAnswer.fromBytes(values.get(k).getValue());
        boolean gone = !all && !values.get(k).hasValue();
        if (all || gone || a != null && which.matches(a)) {
          deleted += c.del(keys[k]);
          c.zrem(ORDER, batch.get(k));
        }
      }
    }
    c.publish(CHANNEL, bytes("flush " + which.encode()));
    return deleted;
  }

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  @Override
  public void close() {
    connector.close();
  }
}
