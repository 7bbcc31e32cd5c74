package dev.weir.testkit;

import io.envoyproxy.envoy.config.core.v3.HealthStatus;
import io.envoyproxy.envoy.config.core.v3.Metadata;

/** One endpoint of a cluster as Envoy's host set holds it: address, priority, weight, EDS health. */
record UpstreamHost(String address, int port, int priority, int weight, Metadata metadata, String hostname,
    boolean tls, HealthStatus edsHealth) {

  String key() {
    return address + ":" + port;
  }

  /**
   * EDS-reported health: UNHEALTHY and TIMEOUT make the host unhealthy but keep it in the host set
   * (it counts towards panic); DEGRADED and UNKNOWN are not failures here, and the balancer serves
   * DEGRADED hosts from the degraded load ({@link UpstreamCluster#health}; envoy/config/core/v3/
   * health_check.proto HealthStatus; upstream_impl.cc HostImpl health flags).
   */
  boolean edsHealthy() {
    return edsHealth != HealthStatus.UNHEALTHY && edsHealth != HealthStatus.TIMEOUT;
  }
}
