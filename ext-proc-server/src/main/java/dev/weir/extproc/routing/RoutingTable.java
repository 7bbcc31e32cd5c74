package dev.weir.extproc.routing;

import dev.weir.config.Credentials;
import dev.weir.config.v1.Backend;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.config.v1.Model;
import dev.weir.config.v1.Pool;
import dev.weir.config.v1.PoolMember;
import java.net.URI;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * The config compiled for lookups on the hot path: model → pool, (pool, backend) → member, and
 * backends with their credentials resolved once at load.
 *
 * <p>Envoy and this server switch to a new config at slightly different moments (the control
 * plane pushes over ADS, this server reloads the file). An upstream attempt may therefore name a
 * backend of the previous config, or of a newer one this server has not loaded yet. So a lookup
 * that misses tries the previous generation (kept for {@link #PREVIOUS_GENERATION_GRACE}), then
 * asks this server to catch up with the config file; only a backend neither knows is unknown.
 */
public final class RoutingTable {
  /** How long a replaced config's backends and members still resolve: ADS pushes take seconds. */
  public static final Duration PREVIOUS_GENERATION_GRACE = Duration.ofMinutes(2);

  /** The lookups of one config version. */
  private record Generation(Map<String, BackendTarget> backends, Map<String, Map<String, PoolMember>> members) {
    PoolMember member(String pool, String backend) {
      Map<String, PoolMember> byBackend = members.get(pool);
      return byBackend == null ? null : byBackend.get(backend);
    }
  }

  private final Map<String, String> poolByModel = new LinkedHashMap<>();
  private final Generation current;
  private final Generation previous;
  private final long previousUntilNanos;
  private final Supplier<RoutingTable> catchUp;

  public RoutingTable(GatewayConfig config, Function<String, String> env)
      throws Credentials.UnresolvableCredentialException {
    this(config, env, null, () -> null);
  }

  /**
   * @param replaced the table this one replaces (its own lookups, not its predecessors', stay
   *     resolvable for the grace period); null at start
   * @param catchUp reloads the config if it changed and returns the table then in force (or
   *     null); asked when a lookup misses both generations
   */
  public RoutingTable(GatewayConfig config, Function<String, String> env, RoutingTable replaced,
      Supplier<RoutingTable> catchUp) throws Credentials.UnresolvableCredentialException {
    for (Model model : config.getModelsList()) {
      poolByModel.put(model.getName(), model.getPool());
    }
    Map<String, BackendTarget> backends = new HashMap<>();
    for (Backend b : config.getBackendsList()) {
      String credential = b.hasCredential() ? Credentials.resolve(b.getCredential(), env) : null;
      backends.put(b.getName(), new BackendTarget(b.getName(), b.getProvider(), URI.create(b.getUrl()),
          b.getApiVersion(), credential));
    }
    Map<String, Map<String, PoolMember>> members = new HashMap<>();
    for (Pool pool : config.getPoolsList()) {
      Map<String, PoolMember> byBackend = new HashMap<>();
      for (PoolMember m : pool.getMembersList()) {
        byBackend.put(m.getBackend(), m);
      }
      members.put(pool.getName(), byBackend);
    }
    this.current = new Generation(backends, members);
    this.previous = replaced == null ? null : replaced.current;
    this.previousUntilNanos = System.nanoTime() + PREVIOUS_GENERATION_GRACE.toNanos();
    this.catchUp = catchUp;
  }

  /** The pool serving a client-facing model name, or null for an unknown model. */
  public String poolFor(String model) {
    return poolByModel.get(model);
  }

  /** Every client-facing model name, in config order. */
  public Set<String> models() {
    return poolByModel.keySet();
  }

  public BackendTarget backend(String name) {
    BackendTarget b = current.backends().get(name);
    if (b == null && previousValid()) {
      b = previous.backends().get(name);
    }
    if (b == null) {
      RoutingTable newer = newer();
      b = newer == null ? null : newer.current.backends().get(name);
    }
    return b;
  }

  /** The membership of a backend in a pool (deployment, model override), or null. */
  public PoolMember member(String pool, String backend) {
    PoolMember m = current.member(pool, backend);
    if (m == null && previousValid()) {
      m = previous.member(pool, backend);
    }
    if (m == null) {
      RoutingTable newer = newer();
      m = newer == null ? null : newer.current.member(pool, backend);
    }
    return m;
  }

  private boolean previousValid() {
    return previous != null && System.nanoTime() - previousUntilNanos < 0;
  }

  private RoutingTable newer() {
    RoutingTable t = catchUp.get();
    return t == this ? null : t;
  }
}
