package dev.weir.extproc.breaker;

import dev.weir.config.v1.RedisSettings;
import dev.weir.extproc.redis.RedisConnector;
import io.lettuce.core.RedisException;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.cluster.api.sync.RedisClusterCommands;
import java.util.function.LongSupplier;

/**
 * Breaker state in Redis through Lettuce, so every ext-proc-server replica counts the same answers
 * and sees the same trips. Every operation touches one key (Standalone, Sentinel and Cluster
 * alike); trips are compared and set by one Lua script, so two replicas tripping at once agree on
 * the later end, and clearing is a DEL that only one replica wins.
 *
 * <p>Times are epoch millis from this replica's clock, stored in the value: replicas' clocks agree
 * to well under the second that trips are measured in. Keys expire on their own an hour after the
 * trip ends, so a member whose probe never came is not kept forever. The all-tripped probe slot is
 * a SET NX with the interval as its expiry, timed by Redis's clock: one replica wins it.
 *
 * <p>Blocking: calls wait on Lettuce's sync API for at most the configured {@code timeoutMillis};
 * exchanges run on virtual threads; {@link RedisConnector} opens the connection. A failure is a
 * {@link RedisException}; {@link Breakers} fails open on it.
 */
public final class RedisTripStore implements TripStore {
  static final String PREFIX = "weir:breaker:";
  /** KEYS: trip. ARGV: until, reason, now, keep ms after until. Returns 0 opened, 1 extended, 2 unchanged. */
  static final String TRIP = """
      local old = redis.call('GET', KEYS[1])
      local ends, now = tonumber(ARGV[1]), tonumber(ARGV[3])
      local result = 0
      if old then
        local oldEnds = tonumber(string.match(old, '^(%d+)'))
        if oldEnds > now then
          if oldEnds >= ends then return 2 end
          result = 1
        end
      end
      redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'PX', ends - now + tonumber(ARGV[4]))
      return result
      """;
  /** How long a trip's key outlives the trip's end. */
  private static final long KEEP_AFTER_MILLIS = 3_600_000;

  private final RedisConnector<RedisClusterCommands<String, String>> connector;
  private volatile LongSupplier clock = System::currentTimeMillis;

  /** Does not connect yet: the first use does, so a gateway starts while Redis is down. */
  public RedisTripStore(RedisSettings settings) {
    this.connector = new RedisConnector<>(settings, RedisConnector.Connections::sync);
  }

  private RedisClusterCommands<String, String> commands() {
    return connector.get();
  }

  @Override
  public long count(String member, long intervalMillis) {
    long now = nowMillis();
    long window = Math.max(1, intervalMillis);
    String key = PREFIX + "count:" + member + ":" + (now / window);
    long n = commands().incr(key);
    if (n == 1) {
      commands().pexpire(key, window * 2);
    }
    return n;
  }

  @Override
  public TripResult trip(String member, long untilMillis, String reason) {
    Long r = commands().eval(TRIP, ScriptOutputType.INTEGER, new String[] {PREFIX + "trip:" + member},
        Long.toString(untilMillis), reason, Long.toString(nowMillis()), Long.toString(KEEP_AFTER_MILLIS));
    return TripResult.values()[r.intValue()];
  }

  @Override
  public Trip get(String member) {
    String v = commands().get(PREFIX + "trip:" + member);
    if (v == null) {
      return null;
    }
    int bar = v.indexOf('|');
    return new Trip(Long.parseLong(bar < 0 ? v : v.substring(0, bar)), bar < 0 ? "" : v.substring(bar + 1));
  }

  @Override
  public boolean clear(String member) {
    return commands().del(PREFIX + "trip:" + member) == 1;
  }

  /** The probe slot: a key that lives one interval; whoever creates it sends the probe. */
  @Override
  public boolean probe(String pool, long intervalMillis) {
    return "OK".equals(commands().set(PREFIX + "probe:" + pool, Long.toString(nowMillis()),
        io.lettuce.core.SetArgs.Builder.nx().px(intervalMillis)));
  }

  @Override
  public long nowMillis() {
    return clock.getAsLong();
  }

  @Override
  public void clock(LongSupplier millis) {
    this.clock = millis;
  }

  @Override
  public void close() {
    connector.close();
  }
}
