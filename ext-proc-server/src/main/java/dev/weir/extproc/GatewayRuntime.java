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
  private final Stores stores;
  private final Limiter limiter;
  private final dev.weir.extproc.mcp.McpServers mcp;
  private final dev.weir.extproc.mcp.CallLimits mcpLimits;
  private final dev.weir.extproc.mcp.McpSessions mcpSessions;
  private final dev.weir.extproc.mcp.McpTelemetry mcpTelemetry;
  private final dev.weir.extproc.breaker.Breakers breakers;
  private final dev.weir.extproc.safety.scanners.ContentScanners scanners;
  private final dev.weir.extproc.pipeline.Pipeline pipeline = dev.weir.extproc.pipeline.Pipeline.standard();
  private final long startedEpochSeconds = System.currentTimeMillis() / 1000;
  private final dev.weir.extproc.telemetry.Telemetry telemetry;
  private final boolean ownsTelemetry;

  /**
   * Where limit counters (and MCP session bindings) live. Kept across config reloads, so counts
   * survive them; replaced only when the Redis settings change.
   */
  public record Stores(dev.weir.config.v1.RedisSettings redis, LimitStore shared, LocalLimitStore fallback,
      dev.weir.extproc.cache.ResponseCache cache, dev.weir.extproc.breaker.TripStore trips,
      dev.weir.extproc.mcp.McpSessions sessions) implements AutoCloseable {
    /** Stores for {@code config}: the previous ones if they still fit, else new ones. */
    public static Stores forConfig(GatewayConfig config, Stores previous) {
      var redis = config.hasRedis() ? config.getRedis() : null;
      boolean caching = dev.weir.extproc.cache.ResponseCache.configured(config);
      if (previous != null && java.util.Objects.equals(previous.redis(), redis)
          && previous.cache().shared() == (caching && redis != null)) {
        return previous;
      }
      // Shared counters in Redis when configured; else (and as the fail-open fallback) in-process.
      LimitStore shared = redis != null ? new RedisLimitStore(redis, "weir:") : new LocalLimitStore();
      // Breaker trips likewise: shared through Redis, else in this process.
      dev.weir.extproc.breaker.TripStore trips = redis != null ? new dev.weir.extproc.breaker.RedisTripStore(redis)
          : new dev.weir.extproc.breaker.LocalTripStore();
      // MCP session bindings in Redis too; without it in a cache of their own, so that bindings
      // never evict limit counters from the local store's bounded keys.
      var sessions = redis != null ? dev.weir.extproc.mcp.McpSessions.shared(shared)
          : dev.weir.extproc.mcp.McpSessions.local();
      return new Stores(redis, shared, new LocalLimitStore(),
          new dev.weir.extproc.cache.ResponseCache(config.getCache(), caching ? redis : null), trips, sessions);
    }

    @Override
    public void close() {
      cache.close();
      trips.close();
      if (shared instanceof AutoCloseable c) {
        try {
          c.close();
        } catch (Exception e) {
          // shutting down anyway
        }
      }
    }
  }

  public GatewayRuntime(GatewayConfig config, Function<String, String> env, GatewayMetrics metrics)
      throws Credentials.UnresolvableCredentialException {
    this(config, env, metrics, Stores.forConfig(config, null));
  }

  public GatewayRuntime(GatewayConfig config, Function<String, String> env, GatewayMetrics metrics, Stores stores)
      throws Credentials.UnresolvableCredentialException {
    this(config, env, metrics, stores, null, () -> null);
  }

  /**
   * @param replaced the runtime this one takes over from, whose routing stays resolvable for a
   *     while (see {@link RoutingTable}); null at start
   * @param catchUp reloads a changed config file and returns the routing then in force
   */
  public GatewayRuntime(GatewayConfig config, Function<String, String> env, GatewayMetrics metrics, Stores stores,
      GatewayRuntime replaced, java.util.function.Supplier<RoutingTable> catchUp)
      throws Credentials.UnresolvableCredentialException {
    this(config, env, metrics, stores, replaced, catchUp, null);
  }

  /**
   * @param telemetry where usage events go; null: made from the config (in-process, or in Redis
   *     when it is configured)
   */
  public GatewayRuntime(GatewayConfig config, Function<String, String> env, GatewayMetrics metrics, Stores stores,
      GatewayRuntime replaced, java.util.function.Supplier<RoutingTable> catchUp,
      dev.weir.extproc.telemetry.Telemetry telemetry)
      throws Credentials.UnresolvableCredentialException {
    this.config = config;
    this.telemetry = telemetry != null ? telemetry : dev.weir.extproc.telemetry.Telemetry.forConfig(config, metrics, null);
    this.ownsTelemetry = telemetry == null;
    var identityProviders = dev.weir.extproc.identity.IdentityProviders.of(config.getIdentityProvidersList());
    identityProviders.warmUp();
    this.authenticator = new Authenticator(config.getConsumersList(), identityProviders);
    this.routing = new RoutingTable(config, env, replaced == null ? null : replaced.routing, catchUp);
    this.metrics = metrics;
    metrics.vocabulary(config);
    Map<String, String> encodings = new HashMap<>();
    config.getModelsList().forEach(m -> encodings.put(m.getName(), m.getEncoding()));
    this.tokens = new TokenCounter(encodings, config.getTokens().getImageTokens());
    this.stores = stores;
    this.limiter = new Limiter(config, stores.shared(), stores.fallback(), metrics.limiterObserver());
    this.mcp = new dev.weir.extproc.mcp.McpServers(config, env);
    this.mcpLimits = new dev.weir.extproc.mcp.CallLimits(stores.shared(), stores.fallback());
    this.mcpSessions = stores.sessions();
    this.mcpTelemetry = new dev.weir.extproc.mcp.McpTelemetry(metrics.registry());
    this.breakers = new dev.weir.extproc.breaker.Breakers(config, stores.trips(), reporter(config, env), metrics);
    this.scanners = dev.weir.extproc.safety.scanners.ContentScanners.of(config, env, metrics.registry());
  }

  /** The MCP servers the gateway fronts, with the consumers' tool policies. */
  public dev.weir.extproc.mcp.McpServers mcp() {
    return mcp;
  }

  public dev.weir.extproc.mcp.CallLimits mcpLimits() {
    return mcpLimits;
  }

  /** Which consumer opened each MCP session (in Redis when configured, else in this process). */
  public dev.weir.extproc.mcp.McpSessions mcpSessions() {
    return mcpSessions;
  }

  public dev.weir.extproc.mcp.McpTelemetry mcpTelemetry() {
    return mcpTelemetry;
  }

  /**
   * Where the breaker reports trips: the control plane's admin API, which needs the admin token.
   * Without one, trips still make the router pass answer when a whole pool is tripped, but Envoy
   * keeps choosing tripped members (each such attempt is retried elsewhere).
   */
  private static dev.weir.extproc.breaker.TripReporter reporter(GatewayConfig config, Function<String, String> env) {
    boolean anyBreaker = config.getPoolsList().stream().anyMatch(dev.weir.config.v1.Pool::hasBreaker);
    if (!anyBreaker) {
      return dev.weir.extproc.breaker.TripReporter.NONE;
    }
    String token = null;
    if (config.getSecurity().hasAdminToken()) {
      try {
        token = Credentials.resolve(config.getSecurity().getAdminToken(), env);
      } catch (Credentials.UnresolvableCredentialException e) {
        token = null;
      }
    }
    if (token == null || token.isBlank()) {
      org.slf4j.LoggerFactory.getLogger(GatewayRuntime.class).warn("pools have a breaker but security.adminToken is"
          + " not readable: trips are not reported to the control plane, so Envoy keeps choosing tripped members");
      return dev.weir.extproc.breaker.TripReporter.NONE;
    }
    return new dev.weir.extproc.breaker.ControlPlaneReporter(config.getControlPlaneAdminUrl(), token);
  }

  /** The throttle-aware circuit breakers of the pools that have one. */
  public dev.weir.extproc.breaker.Breakers breakers() {
    return breakers;
  }

  /** The config's external content-safety scanners, with their circuits and verdict caches. */
  public dev.weir.extproc.safety.scanners.ContentScanners scanners() {
    return scanners;
  }

  public Stores stores() {
    return stores;
  }

  public TokenCounter tokens() {
    return tokens;
  }

  /** The router pass's stages, in order. */
  public dev.weir.extproc.pipeline.Pipeline pipeline() {
    return pipeline;
  }

  public Limiter limiter() {
    return limiter;
  }

  /** Where this runtime's exchanges publish their usage events. */
  public dev.weir.extproc.telemetry.Telemetry telemetry() {
    return telemetry;
  }

  @Override
  public void close() {
    stores.close();
    if (ownsTelemetry) {
      telemetry.close();
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
