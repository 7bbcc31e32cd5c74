package dev.weir.xds;

import com.google.protobuf.Message;
import com.google.protobuf.util.JsonFormat;
import dev.weir.config.ConfigException;
import dev.weir.config.ConfigLoader;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.tls.MutualTls;
import io.envoyproxy.controlplane.cache.v3.SimpleCache;
import io.envoyproxy.controlplane.cache.v3.Snapshot;
import io.envoyproxy.controlplane.server.DiscoveryServerCallbacks;
import io.envoyproxy.controlplane.server.V3DiscoveryServer;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor;
import io.envoyproxy.envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec;
import io.envoyproxy.envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate;
import io.envoyproxy.envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext;
import io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryRequest;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The ADS gRPC server: publishes the config's Envoy resources as one snapshot for every Envoy
 * node group, re-publishes on reloads and backend overrides, and logs NACKs.
 */
public final class AdsServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(AdsServer.class);
  /** Envoys are grouped by their node cluster (--service-cluster); every group gets the snapshot. */
  static final String DEFAULT_GROUP = "default";
  static final JsonFormat.TypeRegistry TYPES = JsonFormat.TypeRegistry.newBuilder()
      .add(ExternalProcessor.getDescriptor()).add(UpstreamCodec.getDescriptor())
      .add(HttpProtocolOptions.getDescriptor()).add(UpstreamTlsContext.getDescriptor())
      .add(PreviousHostsPredicate.getDescriptor()).add(PreviousPrioritiesConfig.getDescriptor())
      .add(io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.getDescriptor())
      .add(io.envoyproxy.envoy.extensions.filters.http.router.v3.Router.getDescriptor())
      .add(io.envoyproxy.envoy.extensions.access_loggers.stream.v3.StdoutAccessLog.getDescriptor())
      .add(io.envoyproxy.envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter.getDescriptor())
      .build();

  private final Path configFile;
  private final Function<String, String> env;
  private final SimpleCache<String> cache = new SimpleCache<>(AdsServer::group);
  private final NackHoldingWatcher nackHolding = new NackHoldingWatcher(cache);
  private final BackendOverrides overrides = new BackendOverrides();
  private final Trips trips = new Trips(this);
  private final Server ads;
  private final MutualTls tls;
  private final AtomicLong version = new AtomicLong();
  private volatile GatewayConfig config;
  private volatile EnvoyResources.Resources current;
  private volatile Snapshot snapshot;
  private volatile String lastReload = "none yet";

  /**
   * @param insecureBind serve ADS without TLS on an address other than loopback (refused
   *     otherwise: whoever reaches the port could read the gateway's routing)
   */
  public AdsServer(Path configFile, GatewayConfig config, Function<String, String> env, String bind, int port,
      boolean insecureBind) throws IOException {
    this.configFile = configFile;
    this.env = env;
    boolean withTls = config.getSecurity().hasControlPlaneTls();
    if (!withTls && !MutualTls.isLoopback(bind)) {
      if (!insecureBind) {
        throw new IOException("refusing to serve ADS without TLS on " + bind + ": set"
            + " security.controlPlaneTls (mTLS with Envoy), bind 127.0.0.1, or pass --insecure-bind");
      }
      log.warn("ADS on {} WITHOUT TLS (--insecure-bind): anyone who reaches this port can read the"
          + " gateway's routing; configure security.controlPlaneTls", bind);
    } else if (!withTls) {
      log.info("no security.controlPlaneTls configured: ADS serves plaintext on loopback ({}) only", bind);
    }
    publish(config, "start");
    try {
      this.tls = withTls ? MutualTls.server(config.getSecurity().getControlPlaneTls()) : null;
    } catch (java.security.GeneralSecurityException e) {
      throw new IOException("security.controlPlaneTls: " + e.getMessage(), e);
    }
    V3DiscoveryServer discovery = new V3DiscoveryServer(new Callbacks(), nackHolding);
    InetSocketAddress address = new InetSocketAddress(bind, port);
    NettyServerBuilder builder = tls == null ? NettyServerBuilder.forAddress(address)
        : NettyServerBuilder.forAddress(address, tls.credentials());
    this.ads = builder
        .addService(discovery.getAggregatedDiscoveryServiceImpl())
        .addService(discovery.getClusterDiscoveryServiceImpl())
        .addService(discovery.getRouteDiscoveryServiceImpl())
        .addService(discovery.getListenerDiscoveryServiceImpl())
        .addService(discovery.getEndpointDiscoveryServiceImpl())
        .build().start();
  }

  /** Re-reads the config file; returns null when published, else the refusal (version stays). */
  public synchronized String reload(String cause) {
    try {
      publish(new ConfigLoader(env, true).load(configFile), cause);
      return null;
    } catch (ConfigException e) {
      lastReload = "refused (" + cause + "): " + e.getMessage();
      log.warn("config change refused ({}); version {} stays: {}", cause, version(), e.getMessage());
      return e.getMessage();
    }
  }

  private static String group(io.envoyproxy.envoy.config.core.v3.Node node) {
    return node.getCluster().isEmpty() ? DEFAULT_GROUP : node.getCluster();
  }

  /**
   * Builds and publishes a new snapshot to every node group; the version is a counter, so each
   * change is a new version Envoy must ACK or NACK. A NACKed snapshot is not rolled back by us:
   * Envoy keeps running its last accepted resources, and the NACK is logged with Envoy's reason.
   */
  public synchronized void publish(GatewayConfig next, String cause) {
    EnvoyResources.Resources resources = EnvoyResources.build(next, overrides);
    String v = Long.toString(version.incrementAndGet());
    Snapshot s = Snapshot.create(resources.clusters(), resources.endpoints(), resources.listeners(),
        resources.routes(), List.of(), v);
    config = next;
    current = resources;
    snapshot = s;
    java.util.Set<String> groups = new java.util.HashSet<>(cache.groups());
    groups.add(DEFAULT_GROUP);
    for (String g : groups) {
      cache.setSnapshot(g, s);
    }
    lastReload = "version " + v + " (" + cause + ")";
    log.info("published version {} ({}): {} clusters, {} endpoints, {} routes", v, cause,
        resources.clusters().size(), resources.endpointCount(),
        resources.routes().get(0).getVirtualHosts(0).getRoutesCount());
  }

  public BackendOverrides overrides() {
    return overrides;
  }

  /** The breaker's trips, half-open members and capacity weights. */
  public Trips trips() {
    return trips;
  }

  public String version() {
    return Long.toString(version.get());
  }

  public int port() {
    return ads.getPort();
  }

  public GatewayConfig config() {
    return config;
  }

  public String lastReload() {
    return lastReload;
  }

  public java.util.Collection<String> groups() {
    return cache.groups();
  }

  /** The current resources as Envoy-style JSON. */
  public String dump() {
    return toJson(version(), current) + "\n";
  }

  void awaitTermination() throws InterruptedException {
    ads.awaitTermination();
  }

  /** The resources as Envoy-style JSON, for the admin API and --print. */
  static String toJson(String version, EnvoyResources.Resources r) {
    StringBuilder out = new StringBuilder("{\"version\":\"" + version + "\",\"listeners\":[");
    appendAll(out, r.listeners());
    out.append("],\"clusters\":[");
    appendAll(out, r.clusters());
    out.append("],\"endpoints\":[");
    appendAll(out, r.endpoints());
    out.append("],\"routes\":[");
    appendAll(out, r.routes());
    return out.append("]}").toString();
  }

  private static void appendAll(StringBuilder out, List<? extends Message> messages) {
    for (int i = 0; i < messages.size(); i++) {
      try {
        out.append(i > 0 ? "," : "").append(JsonFormat.printer().usingTypeRegistry(TYPES).print(messages.get(i)));
      } catch (com.google.protobuf.InvalidProtocolBufferException e) {
        throw new IllegalStateException("resource holds a type missing from TYPES", e);
      }
    }
  }

  /**
   * Gives a node group the current snapshot on its first request, and logs every NACK (a request
   * carrying error_detail) with Envoy's message.
   */
  private final class Callbacks implements DiscoveryServerCallbacks {
    @Override
    public void onV3StreamResponse(long streamId, DiscoveryRequest request,
        io.envoyproxy.envoy.service.discovery.v3.DiscoveryResponse response) {
      nackHolding.sent(streamId, response);
    }

    @Override
    public void onStreamClose(long streamId, String typeUrl) {
      nackHolding.closed(streamId);
    }

    @Override
    public void onStreamCloseWithError(long streamId, String typeUrl, Throwable error) {
      nackHolding.closed(streamId);
    }

    @Override
    public void onV3StreamRequest(long streamId, DiscoveryRequest request) {
      nackHolding.received(streamId, request);
      String g = group(request.getNode());
      if (!request.getNode().equals(io.envoyproxy.envoy.config.core.v3.Node.getDefaultInstance())
          && cache.getSnapshot(g) == null) {
        synchronized (AdsServer.this) {
          if (cache.getSnapshot(g) == null) {
            cache.setSnapshot(g, snapshot);
            log.info("node group {} joined (node {})", g, request.getNode().getId());
          }
        }
      }
      if (request.hasErrorDetail()) {
        log.error("Envoy {} rejected {} version {} (stream {}): {}", request.getNode().getId(),
            request.getTypeUrl(), request.getVersionInfo(), streamId, request.getErrorDetail().getMessage());
      }
    }

    @Override
    public void onV3StreamDeltaRequest(long streamId, DeltaDiscoveryRequest request) {
      if (request.hasErrorDetail()) {
        log.error("Envoy {} rejected {} (delta stream {}): {}", request.getNode().getId(), request.getTypeUrl(),
            streamId, request.getErrorDetail().getMessage());
      }
    }
  }

  @Override
  public void close() {
    ads.shutdown();
    try {
      if (!ads.awaitTermination(5, TimeUnit.SECONDS)) {
        ads.shutdownNow();
      }
    } catch (InterruptedException e) {
      ads.shutdownNow();
      Thread.currentThread().interrupt();
    }
    if (tls != null) {
      tls.close();
    }
  }
}
