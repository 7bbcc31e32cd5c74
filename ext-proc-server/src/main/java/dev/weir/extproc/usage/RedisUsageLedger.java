package dev.weir.extproc.usage;

import dev.weir.config.v1.RedisSettings;
import dev.weir.extproc.redis.RedisConnector;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
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
  private final Consumer<Throwable> onError;
  private final RedisConnector<RedisClusterAsyncCommands<String, String>> connector;

  /** Starts connecting in the background, so a gateway starts while Redis is down. */
  public RedisUsageLedger(RedisSettings settings, String prefix, int retentionDays, Consumer<Throwable> onError) {
    this.prefix = prefix + "usage:";
    this.retentionSeconds = retentionDays * 86_400L;
    this.timeout = Duration.ofMillis(Math.max(1, settings.getTimeoutMillis()));
    this.onError = onError;
    this.connector = new RedisConnector<>(settings, RedisConnector.Connections::async);
    connector.connectInBackground();
  }

  @Override
  public void add(Key key, UsageAmounts amounts) {
    RedisClusterAsyncCommands<String, String> c = connector.current();
    if (c == null) {
      // Connecting waits on the network: never on an exchange's thread. A background attempt retries.
      onError.accept(new IllegalStateException("Redis not connected"));
      connector.connectInBackground();
      return;
    }
    String hash = prefix + key.day();
    String base = key.consumer() + SEPARATOR + key.model() + SEPARATOR;
    long[] values = amounts.values();
    for (int i = 0; i < values.length; i++) {
      if (values[i] != 0) {
        c.hincrby(hash, base + UsageAmounts.FIELDS.get(i), values[i]).exceptionally(this::failed);
      }
    }
    c.expire(hash, retentionSeconds).exceptionally(this::failed);
  }

  private <T> T failed(Throwable t) {
    onError.accept(t);
    return null;
  }

  @Override
  public Map<Key, UsageAmounts> read(LocalDate from, LocalDate to) {
    RedisClusterAsyncCommands<String, String> c = connector.get();
    Map<LocalDate, CompletableFuture<Map<String, String>>> days = new HashMap<>();
    for (LocalDate d = from; !d.isAfter(to); d = d.plusDays(1)) {
      days.put(d, c.hgetall(prefix + d).toCompletableFuture());
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
    connector.close();
  }
}
