package dev.weir.extproc.redis;

import dev.weir.config.v1.RedisSettings;
import io.lettuce.core.AbstractRedisClient;
import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisConnectionException;
import io.lettuce.core.RedisURI;
import io.lettuce.core.cluster.ClusterClientOptions;
import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import io.lettuce.core.cluster.api.sync.RedisClusterCommands;
import io.lettuce.core.codec.RedisCodec;
import io.lettuce.core.codec.StringCodec;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import java.time.Duration;
import java.util.function.Function;

/**
 * Opens Redis for a store that keeps shared state there, the same way for all of them: one Lettuce
 * client per store, standalone (also {@code rediss://} TLS, a password in the URI, and
 * {@code redis-sentinel://}) or Redis Cluster when {@code redis.cluster} is set.
 *
 * <p>Nothing connects at construction, so a gateway starts while Redis is down; the first
 * {@link #get()} does. While disconnected, commands are rejected at once rather than queued, so an
 * outage costs a request microseconds, not the timeout. Lettuce reconnects an established
 * connection by itself; one never established is tried again here at most once a second, and a
 * failed attempt shuts its client down so it leaks no threads. Every failure to connect is a
 * {@link RedisConnectionException}: each store decides whether that fails open or closed.
 *
 * @param <T> what the store keeps of its connections (their command interfaces)
 */
public final class RedisConnector<T> implements AutoCloseable {
  private static final long RETRY_NANOS = 1_000_000_000L;

  private final RedisSettings settings;
  private final Function<Connections, T> open;
  private final Object connectLock = new Object();
  private volatile T opened;
  private volatile AbstractRedisClient client;
  private volatile boolean closed;
  private long lastAttemptNanos = System.nanoTime() - 2 * RETRY_NANOS;

  /**
   * @param open opens the store's connections on a new client and returns what the store uses;
   *     it runs at most once a second until it succeeds, and anything it throws fails the attempt
   */
  public RedisConnector(RedisSettings settings, Function<Connections, T> open) {
    this.settings = settings;
    this.open = open;
  }

  /**
   * The store's connections, connecting first if they are not open. Blocks for at most the
   * connect timeout, and not at all within a second of a failed attempt.
   *
   * @throws RedisConnectionException when Redis cannot be reached now
   */
  public T get() {
    T t = opened;
    if (t != null) {
      return t;
    }
    synchronized (connectLock) {
      if (closed) {
        throw new RedisConnectionException("Redis connector closed");
      }
      if (opened != null) {
        return opened;
      }
      long now = System.nanoTime();
      if (now - lastAttemptNanos < RETRY_NANOS) {
        throw new RedisConnectionException("Redis not connected (retrying every second)");
      }
      lastAttemptNanos = now;
      RedisURI uri = RedisURI.create(settings.getUri());
      uri.setTimeout(Duration.ofMillis(Math.max(1, settings.getTimeoutMillis())));
      AbstractRedisClient created;
      if (settings.getCluster()) {
        RedisClusterClient cluster = RedisClusterClient.create(uri);
        cluster.setOptions(ClusterClientOptions.builder()
            .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS).build());
        created = cluster;
      } else {
        RedisClient single = RedisClient.create(uri);
        single.setOptions(ClientOptions.builder()
            .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS).build());
        created = single;
      }
      // The client first: close() must find it even if opening the connections fails half-way.
      client = created;
      try {
        opened = open.apply(new Connections(created));
      } catch (RuntimeException e) {
        client = null;
        created.shutdown();
        throw new RedisConnectionException("cannot connect to Redis: " + e.getMessage(), e);
      }
      return opened;
    }
  }

  /** The store's connections if they are open, else null; never connects, never waits. */
  public T current() {
    return opened;
  }

  /** Connects now if it can, without throwing: whether the connections are open. */
  public boolean tryConnect() {
    try {
      get();
      return true;
    } catch (RedisConnectionException e) {
      return false;
    }
  }

  /** Tries to connect on a virtual thread, for callers that must not wait on the network. */
  public void connectInBackground() {
    if (opened == null && !closed) {
      Thread.ofVirtual().name("weir-redis-connect").start(this::tryConnect);
    }
  }

  @Override
  public void close() {
    AbstractRedisClient c;
    // Under the connect lock, so that no connect still under way opens a client after this.
    synchronized (connectLock) {
      closed = true;
      c = client;
      client = null;
      opened = null;
    }
    if (c != null) {
      c.shutdown();
    }
  }

  /**
   * A new client of the topology the settings name, on which a store opens its connections. Every
   * call opens one more connection. The command interfaces are the Cluster ones, which standalone
   * and Sentinel connections implement too.
   */
  public static final class Connections {
    private final AbstractRedisClient client;

    private Connections(AbstractRedisClient client) {
      this.client = client;
    }

    /** Blocking commands with String keys and values. */
    public RedisClusterCommands<String, String> sync() {
      return sync(StringCodec.UTF8);
    }

    /** Blocking commands with String keys and values the codec reads and writes. */
    public <V> RedisClusterCommands<String, V> sync(RedisCodec<String, V> codec) {
      return client instanceof RedisClusterClient cluster
          ? cluster.connect(codec).sync() : ((RedisClient) client).connect(codec).sync();
    }

    /** Non-blocking commands with String keys and values. */
    public RedisClusterAsyncCommands<String, String> async() {
      return client instanceof RedisClusterClient cluster
          ? cluster.connect().async() : ((RedisClient) client).connect().async();
    }

    /** A publish/subscribe connection with String channels and messages. */
    public StatefulRedisPubSubConnection<String, String> pubSub() {
      return client instanceof RedisClusterClient cluster
          ? cluster.connectPubSub() : ((RedisClient) client).connectPubSub();
    }
  }
}
