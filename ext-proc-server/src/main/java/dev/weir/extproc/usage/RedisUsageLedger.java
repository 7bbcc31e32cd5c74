package dev.weir.extproc.usage;

import dev.weir.config.v1.RedisSettings;
import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.api.async.RedisHashAsyncCommands;
import io.lettuce.core.api.async.RedisKeyAsyncCommands;
import io.lettuce.core.cluster.ClusterClientOptions;
import io.lettuce.core.cluster.RedisClusterClient;
import java.time.Duration;
import java.time.LocalDate;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/**
 * Usage totals in Redis, shared by every replica: one hash per UTC day ({@code weir:usage:<day>}),
 * one integer field per consumer, model and amount, added with HINCRBY (atomic, so replicas never
 * lose each other's counts) and expiring after the retention. Adding uses Lettuce's async API and
 * never waits; a failed add is counted in {@code weir.usage.ledger.errors}. Reading waits up to
 * the Redis timeout per day (it serves /usage and the CLI, not traffic). The connection opens in
 * the background at construction; until it is up, adds are counted as errors, not waited for.
 */
public final class RedisUsageLedger implements UsageLedger {
  /** Separates consumer, model and amount in a field name; config names cannot contain it. */
  static final char SEPARATOR = '\u001f';
  private final String prefix;
  private final long retentionSeconds;
  private final Duration timeout;
  private final RedisSettings settings;
  private final Consumer<Throwable> onError;
  private final Object connectLock = new Object();
  private volatile Commands commands;
  private long lastAttemptNanos = System.nanoTime() - 2_000_000_000L;

  /** One open connection's command interfaces and how to close it. */
  private record Commands(RedisHashAsyncCommands<String, String> hashes, RedisKeyAsyncCommands<String, String> keys,
      Runnable shutdown) {}

  /** Does not connect yet: the first use does, so a gateway starts while Redis is down. */
  public RedisUsageLedger(RedisSettings settings, String prefix, int retentionDays, Consumer<Throwable> onError) {
    this.prefix = prefix + "usage:";
    this.retentionSeconds = retentionDays * 86_400L;
    this.timeout = Duration.ofMillis(Math.max(1, settings.getTimeoutMillis()));
    this.settings = settings;
    this.onError = onError;
    Thread.ofVirtual().name("weir-usage-connect").start(() -> {
      try {
        commands();
      } catch (RuntimeException e) {
        // the first add retries (and counts the failure)
      }
    });
  }

  /** The connection, opened on first use; while Redis is unreachable, one attempt a second. */
  private Commands commands() {
    Commands c = commands;
    if (c != null) {
      return c;
    }
    synchronized (connectLock) {
      if (commands != null) {
        return commands;
      }
      long now = System.nanoTime();
      if (now - lastAttemptNanos < 1_000_000_000L) {
        throw new IllegalStateException("Redis not connected (retrying every second)");
      }
      lastAttemptNanos = now;
      RedisURI uri = RedisURI.create(settings.getUri());
      uri.setTimeout(timeout);
      if (settings.getCluster()) {
        RedisClusterClient client = RedisClusterClient.create(uri);
        client.setOptions(ClusterClientOptions.builder()
            .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS).build());
        try {
          var conn = client.connect();
          commands = new Commands(conn.async(), conn.async(), client::shutdown);
        } catch (RuntimeException e) {
          client.shutdown();
          throw e;
        }
      } else {
        RedisClient client = RedisClient.create(uri);
        client.setOptions(ClientOptions.builder()
            .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS).build());
        try {
          var conn = client.connect();
          commands = new Commands(conn.async(), conn.async(), client::shutdown);
        } catch (RuntimeException e) {
          client.shutdown();
          throw e;
        }
      }
      return commands;
    }
  }

  @Override
  public void add(Key key, UsageAmounts amounts) {
    Commands c = commands;
    if (c == null) {
      // Connecting waits on the network: never on an exchange's thread. A background attempt retries.
      onError.accept(new IllegalStateException("Redis not connected"));
      Thread.ofVirtual().start(() -> {
        try {
          commands();
        } catch (RuntimeException e) {
          // counted above
        }
      });
      return;
    }
    String hash = prefix + key.day();
    String base = key.consumer() + SEPARATOR + key.model() + SEPARATOR;
    long[] values = amounts.values();
    for (int i = 0; i < values.length; i++) {
      if (values[i] != 0) {
        c.hashes().hincrby(hash, base + UsageAmounts.FIELDS.get(i), values[i]).exceptionally(this::failed);
      }
    }
    c.keys().expire(hash, retentionSeconds).exceptionally(this::failed);
  }

  private <T> T failed(Throwable t) {
    onError.accept(t);
    return null;
  }

  @Override
  public Map<Key, UsageAmounts> read(LocalDate from, LocalDate to) {
    Commands c = commands();
    Map<LocalDate, CompletableFuture<Map<String, String>>> days = new HashMap<>();
    for (LocalDate d = from; !d.isAfter(to); d = d.plusDays(1)) {
      days.put(d, c.hashes().hgetall(prefix + d).toCompletableFuture());
    }
    Map<Key, long[]> sums = new HashMap<>();
    for (var day : days.entrySet()) {
      Map<String, String> fields;
      try {
        fields = day.getValue().get(timeout.toMillis() * 5, TimeUnit.MILLISECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted reading usage from Redis", e);
      } catch (ExecutionException | TimeoutException e) {
        throw new IllegalStateException("cannot read usage from Redis: " + e.getMessage(), e);
      }
      fields.forEach((field, value) -> {
        List<String> parts = List.of(field.split(String.valueOf(SEPARATOR), -1));
        int amount = parts.size() == 3 ? UsageAmounts.FIELDS.indexOf(parts.get(2)) : -1;
        if (amount < 0) {
          return;
        }
        sums.computeIfAbsent(new Key(day.getKey(), parts.get(0), parts.get(1)), k -> new long[UsageAmounts.FIELDS.size()])
            [amount] += Long.parseLong(value);
      });
    }
    Map<Key, UsageAmounts> out = new HashMap<>();
    sums.forEach((k, v) -> out.put(k, UsageAmounts.of(v)));
    return out;
  }

  @Override
  public boolean shared() {
    return true;
  }

  @Override
  public void close() {
    Commands c = commands;
    if (c != null) {
      c.shutdown().run();
    }
  }
}
