package dev.weir.extproc;

import dev.weir.config.Credentials;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.extproc.auth.Authenticator;
import dev.weir.extproc.routing.RoutingTable;
import dev.weir.extproc.telemetry.GatewayMetrics;
import java.util.function.Function;

/** Everything an exchange consults, built once from a loaded config; immutable and shared. */
public final class GatewayRuntime {
  private final GatewayConfig config;
  private final Authenticator authenticator;
  private final RoutingTable routing;
  private final GatewayMetrics metrics;
  private final long startedEpochSeconds = System.currentTimeMillis() / 1000;

  public GatewayRuntime(GatewayConfig config, Function<String, String> env, GatewayMetrics metrics)
      throws Credentials.UnresolvableCredentialException {
    this.config = config;
    this.authenticator = new Authenticator(config.getConsumersList());
    this.routing = new RoutingTable(config, env);
    this.metrics = metrics;
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
