package dev.weir.xds;

import com.google.protobuf.Message;
import com.google.protobuf.util.JsonFormat;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.weir.config.CommandLine;
import dev.weir.config.ConfigException;
import dev.weir.config.ConfigLoader;
import dev.weir.config.ConfigWatcher;
import dev.weir.config.v1.GatewayConfig;
import io.envoyproxy.controlplane.cache.v3.SimpleCache;
import io.envoyproxy.controlplane.cache.v3.Snapshot;
import io.envoyproxy.controlplane.server.DiscoveryServerCallbacks;
import io.envoyproxy.controlplane.server.V3DiscoveryServer;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
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
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The xds-control-plane process: serves the config's Envoy resources over ADS (every Envoy node
 * gets the same snapshot) and an admin HTTP port to see the version and resources and to reload.
 */
public final class ControlPlaneServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ControlPlaneServer.class);
  private static final Logger audit = LoggerFactory.getLogger("weir.audit");
  /** Envoys are grouped by their node cluster (--service-cluster); every group gets the snapshot. */
  static final String DEFAULT_GROUP = "default";
  static final JsonFormat.TypeRegistry TYPES = JsonFormat.TypeRegistry.newBuilder()
      .add(ExternalProcessor.getDescriptor()).add(UpstreamCodec.getDescriptor())
      .add(HttpProtocolOptions.getDescriptor()).add(UpstreamTlsContext.getDescriptor())
      .add(PreviousHostsPredicate.getDescriptor()).add(PreviousPrioritiesConfig.getDescriptor())
      .add(io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.getDescriptor())
      .add(io.envoyproxy.envoy.extensions.filters.http.router.v3.Router.getDescriptor())
      .add(io.envoyproxy.envoy.extensions.access_loggers.stream.v3.StdoutAccessLog.getDescriptor())
      .build();

  private final Path configFile;
  private final SimpleCache<String> cache = new SimpleCache<>(ControlPlaneServer::group);
  private final NackHoldingWatcher nackHolding = new NackHoldingWatcher(cache);
  private final BackendOverrides overrides = new BackendOverrides();
  private final Server ads;
  private final HttpServer admin;
  private final ConfigWatcher watcher;
  private final AtomicLong version = new AtomicLong();
  private volatile GatewayConfig config;
  private volatile EnvoyResources.Resources current;
  private volatile Snapshot snapshot;
  private volatile String lastReload = "none yet";

  public ControlPlaneServer(Path configFile, GatewayConfig config, String bind, int adsPort, int adminPort)
      throws IOException {
    this(configFile, config, bind, adsPort, adminPort, true);
  }

  /** @param watch reload when the config file changes */
  public ControlPlaneServer(Path configFile, GatewayConfig config, String bind, int adsPort, int adminPort,
      boolean watch) throws IOException {
    this.configFile = configFile;
    publish(config, "start");
    V3DiscoveryServer discovery = new V3DiscoveryServer(new Callbacks(), nackHolding);
    this.ads = NettyServerBuilder.forAddress(new InetSocketAddress(bind, adsPort))
        .addService(discovery.getAggregatedDiscoveryServiceImpl())
        .addService(discovery.getClusterDiscoveryServiceImpl())
        .addService(discovery.getRouteDiscoveryServiceImpl())
        .addService(discovery.getListenerDiscoveryServiceImpl())
        .addService(discovery.getEndpointDiscoveryServiceImpl())
        .build().start();
    this.admin = HttpServer.create(new InetSocketAddress(bind, adminPort), 16);
    admin.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
    admin.createContext("/healthz", ex -> send(ex, 200, "ok\n"));
    admin.createContext("/version", ex -> send(ex, 200, version() + "\n"));
    admin.createContext("/resources", ex -> send(ex, 200, dump()));
    admin.createContext("/reload", ex -> {
      if (!"POST".equals(ex.getRequestMethod())) {
        send(ex, 405, "use POST\n");
        return;
      }
      String refused = reload("admin " + ex.getRemoteAddress());
      if (refused == null) {
        send(ex, 200, "reloaded: version " + version() + "\n");
      } else {
        send(ex, 400, "refused; version " + version() + " stays\n" + refused + "\n");
      }
    });
    admin.createContext("/status", ex -> send(ex, 200, "version " + version() + "\nlast reload: " + lastReload
        + "\ngroups: " + cache.groups() + "\ndrained: " + overrides.drainedBackends()
        + "\nweights: " + overrides.weights() + "\n"));
    admin.createContext("/backends/", this::backendAction);
    admin.start();
    this.watcher = watch ? new ConfigWatcher(configFile, () -> reload("file change")) : null;
  }

  /** Re-reads the config file; returns null when published, else the refusal (version stays). */
  public synchronized String reload(String cause) {
    try {
      publish(ConfigLoader.forControlPlane().load(configFile), cause);
      return null;
    } catch (ConfigException e) {
      lastReload = "refused (" + cause + "): " + e.getMessage();
      log.warn("config change refused ({}); version {} stays: {}", cause, version(), e.getMessage());
      return e.getMessage();
    }
  }

  /** POST /backends/{name}/drain | undrain | weight?value=N | unweight — audited. */
  private void backendAction(HttpExchange ex) throws IOException {
    String[] parts = ex.getRequestURI().getPath().split("/");
    if (!"POST".equals(ex.getRequestMethod()) || parts.length != 4) {
      send(ex, 405, "use POST /backends/{name}/drain|undrain|weight?value=N|unweight\n");
      return;
    }
    String backend = parts[2];
    String action = parts[3];
    boolean known = config.getBackendsList().stream().anyMatch(b -> b.getName().equals(backend));
    if (!known) {
      send(ex, 404, "no backend named \"" + backend + "\"\n");
      return;
    }
    String detail = "";
    synchronized (this) {
      switch (action) {
        case "drain" -> overrides.drain(backend);
        case "undrain" -> overrides.undrain(backend);
        case "unweight" -> overrides.clearWeight(backend);
        case "weight" -> {
          String q = ex.getRequestURI().getQuery();
          int weight;
          try {
            weight = Integer.parseInt(q == null ? "" : q.replaceFirst("^value=", ""));
          } catch (NumberFormatException e) {
            send(ex, 400, "weight needs ?value=N with N from 1 to 128\n");
            return;
          }
          if (weight < 1 || weight > 128) {
            send(ex, 400, "weight needs ?value=N with N from 1 to 128\n");
            return;
          }
          overrides.setWeight(backend, weight);
          detail = " weight=" + weight;
        }
        default -> {
          send(ex, 404, "unknown action \"" + action + "\" (drain, undrain, weight, unweight)\n");
          return;
        }
      }
      publish(config, "admin " + action + " " + backend);
    }
    audit.info("admin action={} backend={}{} from={} version={}", action, backend, detail,
        ex.getRemoteAddress().getAddress().getHostAddress(), version());
    send(ex, 200, action + " " + backend + detail + ": version " + version() + "\n");
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

  public String version() {
    return Long.toString(version.get());
  }

  public int adsPort() {
    return ads.getPort();
  }

  public int adminPort() {
    return admin.getAddress().getPort();
  }

  private String dump() {
    return toJson(version(), current) + "\n";
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

  private static void send(HttpExchange ex, int status, String body) throws IOException {
    byte[] b = body.getBytes(StandardCharsets.UTF_8);
    ex.getResponseHeaders().set("content-type", body.startsWith("{") ? "application/json" : "text/plain");
    ex.sendResponseHeaders(status, b.length);
    try (OutputStream o = ex.getResponseBody()) {
      o.write(b);
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
        synchronized (ControlPlaneServer.this) {
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
    if (watcher != null) {
      watcher.close();
    }
    admin.stop(0);
    ads.shutdown();
    try {
      if (!ads.awaitTermination(5, TimeUnit.SECONDS)) {
        ads.shutdownNow();
      }
    } catch (InterruptedException e) {
      ads.shutdownNow();
      Thread.currentThread().interrupt();
    }
  }

  static final String USAGE = """
      Usage: java -jar xds-control-plane.jar --config FILE [options]
             java -jar xds-control-plane.jar --print --config FILE

      Weir's xDS control plane: serves the gateway config's listener, routes and clusters (one per
      pool, with priority failover and the upstream ext_proc filter) to Envoy over ADS, and
      reloads when the config file changes (a broken change is refused; the running one stays).

      Options:
        --config FILE     the gateway config (YAML); required
        --bind HOST       address for both ports (default 0.0.0.0)
        --ads-port N      ADS gRPC port (default: controlPlane.adsPort, else 18000)
        --admin-port N    admin HTTP port (default: controlPlane.adminPort, else 18001):
                            GET /healthz /version /status /resources, POST /reload,
                            POST /backends/NAME/drain|undrain|unweight, POST /backends/NAME/weight?value=N
        --no-watch        do not reload when the config file changes
        --print           print the Envoy resources the config produces, as JSON, and exit
        --help            show this text
      """;

  public static void main(String[] args) {
    System.exit(run(args, System.out, System.err));
  }

  static int run(String[] args, PrintStream out, PrintStream err) {
    String config;
    String bind;
    Integer adsPort;
    Integer adminPort;
    boolean print;
    boolean watch;
    try {
      CommandLine cli = CommandLine.parse(args, Set.of("--config", "--bind", "--ads-port", "--admin-port"),
          Set.of("--print", "--no-watch", "--help", "-h"));
      if (cli.has("--help") || cli.has("-h")) {
        out.print(USAGE);
        return 0;
      }
      config = cli.required("--config", "FILE");
      bind = cli.get("--bind", "0.0.0.0");
      adsPort = cli.port("--ads-port");
      adminPort = cli.port("--admin-port");
      print = cli.has("--print");
      watch = !cli.has("--no-watch");
    } catch (CommandLine.UsageException e) {
      err.println(e.getMessage() + "\n");
      err.print(USAGE);
      return 2;
    }
    GatewayConfig loaded;
    try {
      loaded = ConfigLoader.forControlPlane().load(Path.of(config));
    } catch (ConfigException e) {
      err.println("config refused: " + e.getMessage());
      return 1;
    }
    if (print) {
      out.println(toJson("unpublished", EnvoyResources.build(loaded)));
      return 0;
    }
    ControlPlaneServer server;
    try {
      server = new ControlPlaneServer(Path.of(config), loaded, bind,
          adsPort != null ? adsPort : loaded.getControlPlane().getAdsPort(),
          adminPort != null ? adminPort : loaded.getControlPlane().getAdminPort(), watch);
    } catch (IOException e) {
      err.println("cannot start: " + e.getMessage());
      return 1;
    }
    log.info("xds-control-plane ready: ADS on {}:{}, admin on {}:{}", bind, server.adsPort(), bind, server.adminPort());
    Runtime.getRuntime().addShutdownHook(new Thread(server::close, "weir-xds-shutdown"));
    try {
      server.ads.awaitTermination();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    return 0;
  }
}
