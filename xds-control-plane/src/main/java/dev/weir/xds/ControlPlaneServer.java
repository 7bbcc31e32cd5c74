package dev.weir.xds;

import com.google.protobuf.Message;
import com.google.protobuf.util.JsonFormat;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.weir.config.ConfigException;
import dev.weir.config.ConfigLoader;
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
  /** All Envoys share one snapshot; node groups by Envoy cluster come with the xDS issue. */
  static final String GROUP = "weir";
  static final JsonFormat.TypeRegistry TYPES = JsonFormat.TypeRegistry.newBuilder()
      .add(ExternalProcessor.getDescriptor()).add(UpstreamCodec.getDescriptor())
      .add(HttpProtocolOptions.getDescriptor()).add(UpstreamTlsContext.getDescriptor())
      .add(PreviousHostsPredicate.getDescriptor()).add(PreviousPrioritiesConfig.getDescriptor())
      .build();

  private final Path configFile;
  private final SimpleCache<String> cache = new SimpleCache<>(node -> GROUP);
  private final Server ads;
  private final HttpServer admin;
  private final AtomicLong version = new AtomicLong();
  private volatile EnvoyResources.Resources current;

  public ControlPlaneServer(Path configFile, GatewayConfig config, String bind, int adsPort, int adminPort)
      throws IOException {
    this.configFile = configFile;
    publish(config);
    V3DiscoveryServer discovery = new V3DiscoveryServer(new LoggingCallbacks(), cache);
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
      try {
        publish(ConfigLoader.forControlPlane().load(configFile));
        send(ex, 200, "reloaded: version " + version() + "\n");
      } catch (ConfigException e) {
        log.warn("reload refused; version {} stays: {}", version(), e.getMessage());
        send(ex, 400, "refused; version " + version() + " stays\n" + e.getMessage() + "\n");
      }
    });
    admin.start();
  }

  /** Builds and publishes a new snapshot; the version is a counter so Envoy always sees a change. */
  public synchronized void publish(GatewayConfig config) {
    EnvoyResources.Resources resources = EnvoyResources.build(config);
    String v = Long.toString(version.incrementAndGet());
    cache.setSnapshot(GROUP, Snapshot.create(resources.clusters(), List.of(), List.of(),
        resources.routes(), List.of(), v));
    current = resources;
    log.info("published snapshot version {}: {} clusters, {} routes", v, resources.clusters().size(),
        resources.routes().get(0).getVirtualHosts(0).getRoutesCount());
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
    StringBuilder out = new StringBuilder("{\"version\":\"" + version + "\",\"clusters\":[");
    appendAll(out, r.clusters());
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

  /** Logs stream lifecycle and every NACK (a request carrying error_detail) with Envoy's message. */
  private static final class LoggingCallbacks implements DiscoveryServerCallbacks {
    @Override
    public void onV3StreamRequest(long streamId, DiscoveryRequest request) {
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

      Weir's xDS control plane: serves the gateway config's clusters (one per pool, with priority
      failover and the upstream ext_proc filter) and routes to Envoy over ADS.

      Options:
        --config FILE     the gateway config (YAML); required
        --bind HOST       address for both ports (default 0.0.0.0)
        --ads-port N      ADS gRPC port (default: controlPlane.adsPort, else 18000)
        --admin-port N    admin HTTP port: /healthz /version /resources, POST /reload
                          (default: controlPlane.adminPort, else 18001)
        --print           print the Envoy resources the config produces, as JSON, and exit
        --help            show this text
      """;

  public static void main(String[] args) {
    System.exit(run(args, System.out, System.err));
  }

  static int run(String[] args, PrintStream out, PrintStream err) {
    String config = null;
    String bind = "0.0.0.0";
    Integer adsPort = null;
    Integer adminPort = null;
    boolean print = false;
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      try {
        switch (a) {
          case "--help", "-h" -> {
            out.print(USAGE);
            return 0;
          }
          case "--config" -> config = args[++i];
          case "--bind" -> bind = args[++i];
          case "--ads-port" -> adsPort = Integer.parseInt(args[++i]);
          case "--admin-port" -> adminPort = Integer.parseInt(args[++i]);
          case "--print" -> print = true;
          default -> {
            err.println("unknown option: " + a + "\n");
            err.print(USAGE);
            return 2;
          }
        }
      } catch (ArrayIndexOutOfBoundsException | NumberFormatException e) {
        err.println("option " + a + " needs a value\n");
        err.print(USAGE);
        return 2;
      }
    }
    if (config == null) {
      err.println("--config FILE is required\n");
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
          adminPort != null ? adminPort : loaded.getControlPlane().getAdminPort());
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
