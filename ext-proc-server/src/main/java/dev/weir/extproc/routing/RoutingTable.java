package dev.weir.extproc.routing;

import dev.weir.config.Credentials;
import dev.weir.config.v1.Backend;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.config.v1.Model;
import dev.weir.config.v1.Pool;
import dev.weir.config.v1.PoolMember;
import java.time.Duration;
import dev.weir.extproc.backendauth.EntraTokens;
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
 * that misses tries the generations it replaced (each kept for {@link #PREVIOUS_GENERATION_GRACE}), then
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
  /** A replaced generation and when it stops resolving. */
  private record Retired(Generation generation, long untilNanos) {
    boolean valid() {
      return System.nanoTime() - untilNanos < 0;
    }
  }

  /** At most this many replaced generations are kept (a burst of reloads keeps the latest ones). */
  static final int MAX_RETIRED = 4;

  private final Generation current;
  private final java.util.List<Retired> retired;
  private final Supplier<RoutingTable> catchUp;

  public RoutingTable(GatewayConfig config, Function<String, String> env)
      throws Credentials.UnresolvableCredentialException {
    this(config, env, null, () -> null);
  }

  /**
   * @param replaced the table this one replaces (its lookups, and those of the generations it
   *     still resolved, stay resolvable for the grace period); null at start
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
      boolean entra = b.getCredential().hasEntra();
      String credential = b.hasCredential() && !entra ? Credentials.resolve(b.getCredential(), env) : null;
      EntraTokens tokens = entra ? EntraTokens.of(b.getName(), b.getCredential().getEntra(), env) : null;
      if (tokens != null) {
        tokens.warmUp();
      }
      backends.put(b.getName(), BackendTarget.of(b, credential, tokens));
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
    java.util.List<Retired> keep = new java.util.ArrayList<>();
    if (replaced != null) {
      keep.add(new Retired(replaced.current, System.nanoTime() + PREVIOUS_GENERATION_GRACE.toNanos()));
      for (Retired r : replaced.retired) {
        if (r.valid() && keep.size() < MAX_RETIRED) {
          keep.add(r);
        }
      }
    }
    this.retired = java.util.List.copyOf(keep);
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
    for (int i = 0; b == null && i < retired.size(); i++) {
      b = retired.get(i).valid() ? retired.get(i).generation().backends().get(name) : null;
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
    for (int i = 0; m == null && i < retired.size(); i++) {
      m = retired.get(i).valid() ? retired.get(i).generation().member(pool, backend) : null;
    }
    if (m == null) {
      RoutingTable newer = newer();
      m = newer == null ? null : newer.current.member(pool, backend);
    }
    return m;
  }

  private RoutingTable newer() {
    RoutingTable t = catchUp.get();
    return t == this ? null : t;
  }
}
