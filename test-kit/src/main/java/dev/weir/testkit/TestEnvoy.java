package dev.weir.testkit;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;

/**
 * Plays Envoy 1.34 for one listener: a router-level ext_proc filter, route selection from a real
 * {@link RouteConfiguration}, host selection from real {@link Cluster}/{@link ClusterLoadAssignment}
 * resources, the cluster's upstream ext_proc filter on every attempt, the route's retry policy,
 * circuit breakers and outlier detection, and real HTTP/1.1 to the chosen host. Configure it with
 * the same protos Envoy would receive, so a test exercises what we ship.
 *
 * <p>One class per concern, each naming the Envoy source it follows: {@link RouteTable} (routing),
 * {@link UpstreamCluster}, {@link PriorityLoad}, {@link HashRing} and {@link OutlierDetector}
 * (load balancing and health), {@link Router} and {@link RetryState} (the router filter and its
 * retries), {@link ExtProcFilter} and {@link HeaderMutations} (ext_proc),
 * {@link UpstreamConnection} (the HTTP/1 codec and timers) and {@link ResponsePath} (the encoder
 * side). What it leaves out is listed in docs/testing.md.
 */
public final class TestEnvoy implements AutoCloseable {
  /** Headers the client-facing HTTP server writes itself. */
  private static final Set<String> HOP_BY_HOP = Set.of("connection", "keep-alive", "transfer-encoding",
      "upgrade", "te", "trailer", "proxy-connection", "content-length", "host", "expect");
  private final ExternalProcessor routerFilter;
  private final RouteTable routes;
  private final int bufferLimitBytes;
  private final ManagedChannel channel;
  private final Map<String, UpstreamCluster> clusters = new HashMap<>();
  private final Set<String> markedDown = ConcurrentHashMap.newKeySet();
  private final EnvoyStats stats = new EnvoyStats();
  private final Router router;
  private HttpServer listener;

  private TestEnvoy(Builder b) {
    this.routerFilter = b.routerFilter;
    this.routes = new RouteTable(b.routes);
    this.bufferLimitBytes = b.bufferLimitBytes;
    this.channel = b.extProcChannel != null ? b.extProcChannel
        : ManagedChannelBuilder.forAddress(b.extProcHost, b.extProcPort).usePlaintext()
            .maxInboundMessageSize(Integer.MAX_VALUE).build();
    for (Cluster c : b.clusters.values()) {
      ClusterLoadAssignment cla = c.hasLoadAssignment() ? c.getLoadAssignment() : b.endpoints.get(
          c.getEdsClusterConfig().getServiceName().isEmpty() ? c.getName() : c.getEdsClusterConfig().getServiceName());
      clusters.put(c.getName(), new UpstreamCluster(c, cla, markedDown, stats));
    }
    this.router = new Router(Map.copyOf(clusters), channel, stats);
  }

  public static Builder builder() {
    return new Builder();
  }

  /** Configures the emulator with the resources Envoy would load. */
  public static final class Builder {
    private String extProcHost = "127.0.0.1";
    private int extProcPort;
    private ManagedChannel extProcChannel;
    private ExternalProcessor routerFilter;
    private RouteConfiguration routes = RouteConfiguration.getDefaultInstance();
    private final Map<String, Cluster> clusters = new HashMap<>();
    private final Map<String, ClusterLoadAssignment> endpoints = new HashMap<>();
    private int bufferLimitBytes = 1024 * 1024; // Envoy's default per_connection_buffer_limit_bytes

    /** Where the ext_proc server listens (both filters' grpc_service point at it). */
    public Builder extProc(String host, int port) {
      this.extProcHost = host;
      this.extProcPort = port;
      return this;
    }

    /**
     * The channel both ext_proc filters use instead of a plaintext one to {@link #extProc}: for
     * example a TLS channel with a client certificate, as Envoy's weir_ext_proc cluster with an
     * UpstreamTlsContext. The emulator closes it.
     */
    public Builder extProcChannel(ManagedChannel channel) {
      this.extProcChannel = channel;
      return this;
    }

    /** The router-level (HCM) ext_proc filter; null for none. */
    public Builder routerFilter(ExternalProcessor filter) {
      this.routerFilter = filter;
      return this;
    }

    public Builder routes(RouteConfiguration r) {
      this.routes = r;
      return this;
    }

    public Builder cluster(Cluster c) {
      clusters.put(c.getName(), c);
      return this;
    }

    public Builder endpoints(ClusterLoadAssignment cla) {
      endpoints.put(cla.getClusterName(), cla);
      return this;
    }

    /** Clusters (CDS) and the load assignments of the EDS ones, as a control plane serves them. */
    public Builder resources(Iterable<Cluster> cds, Iterable<ClusterLoadAssignment> eds) {
      cds.forEach(this::cluster);
      eds.forEach(this::endpoints);
      return this;
    }

    public Builder bufferLimitBytes(int limit) {
      this.bufferLimitBytes = limit;
      return this;
    }

    public TestEnvoy build() {
      return new TestEnvoy(this);
    }
  }

  public EnvoyStats stats() {
    return stats;
  }

  /**
   * Marks a host unhealthy (as a failed active health check would) or healthy again. An unhealthy
   * host still counts towards its level's size, so panic applies (see {@link PriorityLoad}).
   */
  public void setHealthy(String address, int port, boolean healthy) {
    if (healthy) {
      markedDown.remove(address + ":" + port);
    } else {
      markedDown.add(address + ":" + port);
    }
  }

  /**
   * Applies an EDS update (a new ClusterLoadAssignment) to the EDS cluster it names, as Envoy does
   * when the control plane pushes one over ADS: endpoint health status and weights take effect for
   * the next host selection. Feed it from an {@link AdsSnapshot} to follow a control plane.
   */
  public void updateEndpoints(ClusterLoadAssignment cla) {
    for (UpstreamCluster c : clusters.values()) {
      if (c.config().getType() == Cluster.DiscoveryType.EDS && c.edsName().equals(cla.getClusterName())) {
        c.assign(cla);
      }
    }
  }

  /** Whether outlier detection has the host ejected right now. */
  public boolean ejected(String cluster, String address, int port) {
    UpstreamCluster c = clusters.get(cluster);
    return c != null && c.outlier().ejected(address + ":" + port);
  }

  /** The length of the host's current ejection in milliseconds; 0 when it is not ejected. */
  public long ejectionMillis(String cluster, String address, int port) {
    UpstreamCluster c = clusters.get(cluster);
    return c == null ? 0 : c.outlier().ejectionMillis(address + ":" + port);
  }

  /** Carries one exchange through and collects the client's answer. */
  public ExchangeResponse send(ExchangeRequest request) {
    ExchangeResponse response = new ExchangeResponse();
    List<String> trace = new ArrayList<>();
    exchange(request, response, trace);
    response.trace(trace);
    return response;
  }

  /** Carries one exchange through, writing the answer to {@code sink} as it arrives. */
  public void send(ExchangeRequest request, ResponseSink sink) {
    exchange(request, sink, new ArrayList<>());
  }

  // ---------------------------------------------------------------------------------------------

  private void exchange(ExchangeRequest request, ResponseSink sink, List<String> trace) {
    HeaderList headers = new HeaderList();
    headers.add(":method", request.method());
    headers.add(":path", request.path());
    headers.add(":authority", request.headers().get("host") == null ? "gateway.local" : request.headers().get("host"));
    headers.add(":scheme", "http");
    for (Map.Entry<String, String> e : request.headers().entries()) {
      if (!e.getKey().equals("host")) {
        headers.add(e.getKey(), e.getValue());
      }
    }
    if (!headers.contains("x-request-id")) {
      headers.add("x-request-id", UUID.randomUUID().toString());
    }
    byte[] body = request.body();
    ExtProcFilter filter = routerFilter == null ? null : new ExtProcFilter("router", routerFilter, channel,
        Attributes.resolve(routerFilter.getRequestAttributesList(), headers, null, null), Map.of(), trace::add, stats,
        false);
    if (filter != null) {
      filter.setDynamicMetadata(request.dynamicMetadata());
    }
    ResponsePath response = new ResponsePath(sink, trace, bufferLimitBytes);
    boolean aborted = false;
    try {
      // The HCM picks the route before the first decoder filter runs.
      Route route = routes.match(headers);
      if (filter != null && filter.sendsRequestHeaders()) {
        ExtProcFilter.Outcome o = filter.requestHeaders(headers, body.length == 0);
        if (response.localAnswer(o)) {
          return;
        }
        ExtProcFilter.Continue c = (ExtProcFilter.Continue) o;
        if (c.body() != null) {
          body = c.body();
        }
        if (c.clearRouteCache()) {
          route = routes.match(headers);
        }
      }
      if (filter != null && body.length > 0 && filter.requestBodyMode() != BodySendMode.NONE) {
        if (filter.requestBodyMode() == BodySendMode.BUFFERED && body.length > bufferLimitBytes) {
          response.sendLocal(413, "Payload Too Large", "request_payload_too_large");
          return;
        }
        ExtProcFilter.Outcome o = filter.requestBody(body, true, headers);
        if (response.localAnswer(o)) {
          return;
        }
        ExtProcFilter.Continue c = (ExtProcFilter.Continue) o;
        if (c.body() != null) {
          body = c.body();
        }
        if (c.clearRouteCache()) {
          route = routes.match(headers);
        }
      }
      Router.Answer answer;
      if (route == null) {
        answer = Router.local(404, "", "route_not_found", trace, null);
      } else if (route.hasDirectResponse()) {
        answer = Router.local(route.getDirectResponse().getStatus(),
            route.getDirectResponse().getBody().getInlineString(), "direct_response", trace, null);
      } else {
        answer = router.forward(route, headers, body, trace, routes.includeAttemptCountInResponse(headers));
      }
      if (filter != null && answer.host() != null) {
        // Response attributes resolve against the host that answered.
        filter.setResponseAttributes(Attributes.resolve(routerFilter.getResponseAttributesList(), new HeaderList(),
            answer.host(), null));
      }
      aborted = !response.respond(answer, filter);
    } finally {
      if (filter != null) {
        filter.close(aborted);
      }
    }
  }

  // --- listener ----------------------------------------------------------------------------------

  /** Opens Envoy's client-facing HTTP listener on a free loopback port; returns the port. */
  public int listen() throws IOException {
    listener = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
    listener.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
    listener.createContext("/", this::serve);
    listener.start();
    return listener.getAddress().getPort();
  }

  /** Serves one client exchange received by an HTTP server the caller owns. */
  public void serve(HttpExchange ex) throws IOException {
    HeaderList h = new HeaderList();
    ex.getRequestHeaders().forEach((k, vs) -> vs.forEach(v -> h.add(k, v)));
    byte[] body = ex.getRequestBody().readAllBytes();
    String path = ex.getRequestURI().getRawPath()
        + (ex.getRequestURI().getRawQuery() == null ? "" : "?" + ex.getRequestURI().getRawQuery());
    send(new ExchangeRequest(ex.getRequestMethod(), path, h, body), new ResponseSink() {
      private OutputStream out;

      @Override
      public void start(int status, HeaderList headers) {
        String length = headers.get("content-length");
        headers.entries().forEach(e -> {
          if (!HOP_BY_HOP.contains(e.getKey())) {
            ex.getResponseHeaders().add(e.getKey(), e.getValue());
          }
        });
        try {
          long len = length == null ? 0 : Long.parseLong(length);
          ex.sendResponseHeaders(status, len == 0 && length != null ? -1 : len);
          out = ex.getResponseBody();
        } catch (IOException e) {
          throw new java.io.UncheckedIOException(e);
        }
      }

      @Override
      public void data(byte[] chunk) {
        try {
          out.write(chunk);
          out.flush();
        } catch (IOException e) {
          throw new java.io.UncheckedIOException(e);
        }
      }

      @Override
      public void end() {
        try {
          out.close();
        } catch (IOException ignored) {
          // client went away
        }
        ex.close();
      }

      @Override
      public void reset(String why) {
        ex.close(); // closes the connection mid-body: the client sees a truncated stream
      }
    });
  }

  @Override
  public void close() {
    if (listener != null) {
      listener.stop(0);
    }
    channel.shutdownNow();
  }
}
