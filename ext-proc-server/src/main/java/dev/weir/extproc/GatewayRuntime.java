package dev.weir.extproc;

import dev.weir.config.Credentials;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.extproc.auth.Authenticator;
import dev.weir.extproc.limits.Limiter;
import dev.weir.extproc.limits.LimitStore;
import dev.weir.extproc.limits.LocalLimitStore;
import dev.weir.extproc.limits.RedisLimitStore;
import dev.weir.extproc.tokens.TokenCounter;
import java.util.HashMap;
import java.util.Map;
import dev.weir.extproc.routing.RoutingTable;
import dev.weir.extproc.telemetry.GatewayMetrics;
import java.util.function.Function;

/** Everything an exchange consults, built once from a loaded config; shared, thread-safe. */
public final class GatewayRuntime implements AutoCloseable {
  private final GatewayConfig config;
  private final Authenticator authenticator;
  private final RoutingTable routing;
  private final GatewayMetrics metrics;
  private final TokenCounter tokens;
  private final LimitStore store;
  private final Limiter limiter;
  private final long startedEpochSeconds = System.currentTimeMillis() / 1000;

  public GatewayRuntime(GatewayConfig config, Function<String, String> env, GatewayMetrics metrics)
      throws Credentials.UnresolvableCredentialException {
    this.config = config;
    this.authenticator = new Authenticator(config.getConsumersList());
    this.routing = new RoutingTable(config, env);
    this.metrics = metrics;
    Map<String, String> encodings = new HashMap<>();
    config.getModelsList().forEach(m -> encodings.put(m.getName(), m.getEncoding()));
    this.tokens = new TokenCounter(encodings, config.getTokens().getImageTokens());
    // Shared counters in Redis when configured; else (and as the fail-open fallback) in-process.
    this.store = config.hasRedis() ? new RedisLimitStore(config.getRedis(), "weir:") : new LocalLimitStore();
    this.limiter = new Limiter(config, store, new LocalLimitStore(), metrics.limiterObserver());
  }

  public TokenCounter tokens() {
    return tokens;
  }

  public Limiter limiter() {
    return limiter;
  }

  @Override
  public void close() {
    if (store instanceof AutoCloseable c) {
      try {
        c.close();
      } catch (Exception e) {
        // shutting down anyway
      }
    }
  }

  public GatewayConfig config() {
    return config;
  }

  public Authenticator authenticator() {
    return authenticator;
  }

  public RoutingTable routing() {
    return routing;
  }

  public GatewayMetrics metrics() {
    return metrics;
  }

  public int maxRequestBytes() {
    return config.getExtProc().getMaxRequestBytes();
  }

  public long startedEpochSeconds() {
    return startedEpochSeconds;
  }
}
