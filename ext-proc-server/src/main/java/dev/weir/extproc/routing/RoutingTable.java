package dev.weir.extproc.routing;

import dev.weir.config.Credentials;
import dev.weir.config.v1.Backend;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.config.v1.Model;
import dev.weir.config.v1.Pool;
import dev.weir.config.v1.PoolMember;
import dev.weir.extproc.backendauth.EntraTokens;
import java.net.URI;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * The config compiled for lookups on the hot path: model → pool, (pool, backend) → member, and
 * backends with their credentials resolved once at load.
 */
public final class RoutingTable {
  private final Map<String, String> poolByModel = new LinkedHashMap<>();
  private final Map<String, BackendTarget> backends = new HashMap<>();
  private final Map<String, Map<String, PoolMember>> members = new HashMap<>();

  public RoutingTable(GatewayConfig config, Function<String, String> env)
      throws Credentials.UnresolvableCredentialException {
    for (Model model : config.getModelsList()) {
      poolByModel.put(model.getName(), model.getPool());
    }
    for (Backend b : config.getBackendsList()) {
      boolean entra = b.getCredential().hasEntra();
      String credential = b.hasCredential() && !entra ? Credentials.resolve(b.getCredential(), env) : null;
      EntraTokens tokens = entra ? EntraTokens.of(b.getName(), b.getCredential().getEntra(), env) : null;
      if (tokens != null) {
        tokens.warmUp();
      }
      backends.put(b.getName(), new BackendTarget(b.getName(), b.getProvider(), URI.create(b.getUrl()),
          b.getApiVersion(), credential, b.getDefaultMaxTokens(), b.getRegion(), b.getAws(), tokens));
    }
    for (Pool pool : config.getPoolsList()) {
      Map<String, PoolMember> byBackend = new HashMap<>();
      for (PoolMember m : pool.getMembersList()) {
        byBackend.put(m.getBackend(), m);
      }
      members.put(pool.getName(), byBackend);
    }
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
    return backends.get(name);
  }

  /** The membership of a backend in a pool (deployment, model override), or null. */
  public PoolMember member(String pool, String backend) {
    Map<String, PoolMember> byBackend = members.get(pool);
    return byBackend == null ? null : byBackend.get(backend);
  }
}
