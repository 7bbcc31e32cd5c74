package dev.weir.testkit;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import com.google.protobuf.util.Durations;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Metadata;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.envoyproxy.envoy.config.route.v3.HeaderMatcher;
import io.envoyproxy.envoy.config.route.v3.RetryPolicy;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Plays Envoy for one listener: a router-level ext_proc filter, route selection from a real
 * {@link RouteConfiguration}, host selection from real {@link Cluster}/{@link ClusterLoadAssignment}
 * resources, the cluster's upstream ext_proc filter on every attempt, the route's retry policy, and
 * real HTTP to the chosen host. Configure it with the same protos Envoy would receive, so a test
 * exercises what we ship.
 *
 * <p>Where it simplifies Envoy, it says so: priority spill-over goes to the lowest level with a
 * healthy host (Envoy splits traffic by the overprovisioning factor when a level is partly
 * healthy); {@code per_try_timeout} and the route timeout bound the wait for response headers, not
 * a streamed body; HTTP/1.1 only.
 */
public final class TestEnvoy implements AutoCloseable {
  private static final Pattern HOST_METADATA_PATH = Pattern.compile(
      "xds\\.upstream_host_metadata\\.filter_metadata\\['([^']+)'\\]\\['([^']+)'\\]");
  private static final Set<String> HOP_BY_HOP = Set.of("connection", "keep-alive", "transfer-encoding",
      "upgrade", "te", "trailer", "proxy-connection", "content-length", "host", "expect");

  private final ExternalProcessor routerFilter;
  private final RouteConfiguration routes;
  private final Map<String, Cluster> clusters;
  private final Map<String, ClusterLoadAssignment> endpoints;
  private final int bufferLimitBytes;
  private final ManagedChannel channel;
  private final HttpClient http;
  private final Map<String, AtomicLong> roundRobin = new ConcurrentHashMap<>();
  private final Set<String> unhealthy = ConcurrentHashMap.newKeySet();
  private final EnvoyStats stats = new EnvoyStats();
  private HttpServer listener;

  private TestEnvoy(Builder b) {
    this.routerFilter = b.routerFilter;
    this.routes = b.routes;
    this.clusters = Map.copyOf(b.clusters);
    this.endpoints = Map.copyOf(b.endpoints);
    this.bufferLimitBytes = b.bufferLimitBytes;
    this.channel = b.extProcChannel != null ? b.extProcChannel
        : ManagedChannelBuilder.forAddress(b.extProcHost, b.extProcPort).usePlaintext()
            .maxInboundMessageSize(Integer.MAX_VALUE).build();
    this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(5)).build();
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

  /** Marks a host unhealthy (as outlier ejection or a failed health check would) or healthy again. */
  public void setHealthy(String address, int port, boolean healthy) {
    if (healthy) {
      unhealthy.remove(address + ":" + port);
    } else {
      unhealthy.add(address + ":" + port);
    }
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

  private record Host(String address, int port, int priority, int weight, Metadata metadata, String hostname,
      boolean tls) {
    String key() {
      return address + ":" + port;
    }
  }

  private record Upstream(int status, HeaderList headers, InputStream body, Host host) {}

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
    ExtProcFilter router = routerFilter == null ? null : new ExtProcFilter("router", routerFilter, channel,
        attributes(routerFilter.getRequestAttributesList(), headers, null, null), Map.of(), trace::add, stats);
    if (router != null) {
      router.setDynamicMetadata(request.dynamicMetadata());
    }
    boolean aborted = false;
    try {
      // The HCM picks the route before the first decoder filter runs.
      Route route = match(headers);
      if (router != null && router.sendsRequestHeaders()) {
        ExtProcFilter.Outcome o = router.requestHeaders(headers, body.length == 0);
        if (localAnswer(o, sink, trace)) {
          return;
        }
        ExtProcFilter.Continue c = (ExtProcFilter.Continue) o;
        if (c.body() != null) {
          body = c.body();
        }
        if (c.clearRouteCache()) {
          route = match(headers);
        }
      }
      if (router != null && body.length > 0 && router.requestBodyMode() != BodySendMode.NONE) {
        BodySendMode mode = router.requestBodyMode();
        if ((mode == BodySendMode.BUFFERED) && body.length > bufferLimitBytes) {
          sendLocal(sink, 413, "Payload Too Large", "request_payload_too_large", trace);
          return;
        }
        ExtProcFilter.Outcome o = router.requestBody(body, true, headers);
        if (localAnswer(o, sink, trace)) {
          return;
        }
        ExtProcFilter.Continue c = (ExtProcFilter.Continue) o;
        if (c.body() != null) {
          body = c.body();
        }
        if (c.clearRouteCache()) {
          route = match(headers);
        }
      }
      // Router filter.
      Upstream upstream;
      if (route == null) {
        upstream = local(404, "", "route_not_found", trace);
      } else if (route.hasDirectResponse()) {
        upstream = local(route.getDirectResponse().getStatus(),
            route.getDirectResponse().getBody().getInlineString(), "direct_response", trace);
      } else {
        upstream = forward(route, headers, body, trace);
      }
      aborted = !respond(upstream, router, sink, trace);
    } finally {
      if (router != null) {
        router.close(aborted);
      }
    }
  }

  private boolean localAnswer(ExtProcFilter.Outcome o, ResponseSink sink, List<String> trace) {
    if (o instanceof ExtProcFilter.LocalReply r) {
      r.headers().set("content-length", Integer.toString(r.body().length));
      sink.start(r.status(), r.headers());
      sink.data(r.body());
      sink.end();
      return true;
    }
    if (o instanceof ExtProcFilter.Failure f) {
      sendLocal(sink, f.status(), f.status() == 504 ? "upstream request timeout" : "Internal Server Error",
          f.details(), trace);
      return true;
    }
    return false;
  }

  private void sendLocal(ResponseSink sink, int status, String text, String details, List<String> trace) {
    trace.add("envoy: local reply " + status + " " + details);
    byte[] b = text.getBytes(StandardCharsets.UTF_8);
    sink.start(status, HeaderList.of("content-type", "text/plain", "content-length", Integer.toString(b.length)));
    sink.data(b);
    sink.end();
  }

  /** A reply Envoy itself makes on the response path; still goes through the encoder filters. */
  private Upstream local(int status, String text, String details, List<String> trace) {
    trace.add("envoy: local reply " + status + " " + details);
    byte[] b = text.getBytes(StandardCharsets.UTF_8);
    return new Upstream(status, HeaderList.of(":status", Integer.toString(status), "content-type", "text/plain",
        "content-length", Integer.toString(b.length)), new java.io.ByteArrayInputStream(b), null);
  }

  // --- routing --------------------------------------------------------------------------------

  private Route match(HeaderList headers) {
    String authority = headers.get(":authority");
    String path = headers.get(":path");
    for (VirtualHost vh : routes.getVirtualHostsList()) {
      if (!domainMatches(vh, authority)) {
        continue;
      }
      for (Route r : vh.getRoutesList()) {
        if (routeMatches(r, path, headers)) {
          return r;
        }
      }
      return null;
    }
    return null;
  }

  private static boolean domainMatches(VirtualHost vh, String authority) {
    String host = authority == null ? "" : authority.replaceFirst(":\\d+$", "");
    for (String d : vh.getDomainsList()) {
      if (d.equals("*") || d.equalsIgnoreCase(host) || d.equalsIgnoreCase(authority)
          || (d.startsWith("*") && host.endsWith(d.substring(1)))) {
        return true;
      }
    }
    return false;
  }

  private static boolean routeMatches(Route r, String path, HeaderList headers) {
    var m = r.getMatch();
    String p = path.contains("?") ? path.substring(0, path.indexOf('?')) : path;
    boolean pathOk = switch (m.getPathSpecifierCase()) {
      case PREFIX -> p.startsWith(m.getPrefix());
      case PATH -> p.equals(m.getPath());
      case SAFE_REGEX -> p.matches(m.getSafeRegex().getRegex());
      case PATH_SEPARATED_PREFIX -> p.equals(m.getPathSeparatedPrefix()) || p.startsWith(m.getPathSeparatedPrefix() + "/");
      default -> false;
    };
    if (!pathOk) {
      return false;
    }
    for (HeaderMatcher hm : m.getHeadersList()) {
      String v = headers.get(hm.getName());
      boolean ok = switch (hm.getHeaderMatchSpecifierCase()) {
        case STRING_MATCH -> v != null && stringMatches(hm.getStringMatch(), v);
        case EXACT_MATCH -> v != null && v.equals(hm.getExactMatch());
        case PRESENT_MATCH -> (v != null) == hm.getPresentMatch();
        case PREFIX_MATCH -> v != null && v.startsWith(hm.getPrefixMatch());
        default -> v != null;
      };
      if (ok == hm.getInvertMatch()) {
        return false;
      }
    }
    return true;
  }

  private static boolean stringMatches(io.envoyproxy.envoy.type.matcher.v3.StringMatcher sm, String v) {
    String value = sm.getIgnoreCase() ? v.toLowerCase(Locale.ROOT) : v;
    return switch (sm.getMatchPatternCase()) {
      case EXACT -> sm.getIgnoreCase() ? v.equalsIgnoreCase(sm.getExact()) : v.equals(sm.getExact());
      case PREFIX -> value.startsWith(sm.getIgnoreCase() ? sm.getPrefix().toLowerCase(Locale.ROOT) : sm.getPrefix());
      case SUFFIX -> value.endsWith(sm.getIgnoreCase() ? sm.getSuffix().toLowerCase(Locale.ROOT) : sm.getSuffix());
      case CONTAINS -> value.contains(sm.getIgnoreCase() ? sm.getContains().toLowerCase(Locale.ROOT) : sm.getContains());
      case SAFE_REGEX -> v.matches(sm.getSafeRegex().getRegex());
      default -> false;
    };
  }

  // --- upstream ---------------------------------------------------------------------------------

  private Upstream forward(Route route, HeaderList headers, byte[] body, List<String> trace) {
    RouteAction action = route.getRoute();
    Cluster cluster = clusters.get(action.getCluster());
    if (cluster == null) {
      return local(503, "no healthy upstream", "cluster_not_found", trace);
    }
    List<Host> hosts = hosts(cluster);
    RetryPolicy retry = action.hasRetryPolicy() ? action.getRetryPolicy() : null;
    int maxAttempts = 1 + (retry == null ? 0 : retry.hasNumRetries() ? retry.getNumRetries().getValue() : 1);
    Set<String> retryOn = retry == null ? Set.of() : new HashSet<>(Arrays.asList(retry.getRetryOn().split("\\s*,\\s*")));
    boolean previousHosts = retry != null && retry.getRetryHostPredicateList().stream()
        .anyMatch(p -> p.getName().equals("envoy.retry_host_predicates.previous_hosts"));
    boolean previousPriorities = retry != null && retry.hasRetryPriority()
        && retry.getRetryPriority().getName().equals("envoy.retry_priorities.previous_priorities");
    int selectionAttempts = retry == null || retry.getHostSelectionRetryMaxAttempts() == 0
        ? 1 : (int) retry.getHostSelectionRetryMaxAttempts();
    Duration routeTimeout = action.hasTimeout() ? toDuration(action.getTimeout()) : Duration.ofSeconds(15);
    long deadline = routeTimeout.isZero() ? Long.MAX_VALUE : System.nanoTime() + routeTimeout.toNanos();
    // Both per-try timeouts bound the wait for response headers here (see the class comment).
    Duration perTry = retry != null && retry.hasPerTryTimeout() ? toDuration(retry.getPerTryTimeout()) : null;
    if (retry != null && retry.hasPerTryIdleTimeout()) {
      Duration idle = toDuration(retry.getPerTryIdleTimeout());
      perTry = perTry == null || idle.compareTo(perTry) < 0 ? idle : perTry;
    }
    ExternalProcessor upstreamFilter = upstreamFilter(cluster);
    Set<String> triedHosts = new HashSet<>();
    Set<Integer> triedPriorities = new HashSet<>();

    Upstream last = null;
    for (int attempt = 1; attempt <= maxAttempts; attempt++) {
      Host host = pick(cluster, hosts, headers, previousHosts ? triedHosts : Set.of(),
          previousPriorities ? triedPriorities : Set.of(), selectionAttempts, action);
      if (host == null) {
        return local(503, "no healthy upstream", "no_healthy_upstream", trace);
      }
      triedHosts.add(host.key());
      triedPriorities.add(host.priority());
      trace.add("envoy: attempt " + attempt + " -> " + host.key() + " (priority " + host.priority() + ")");
      byte[] attemptBody = body;
      if (upstreamFilter != null) {
        // Upstream filters see (and mutate) the router's request headers: a retry starts from
        // what the previous attempt's filters left.
        ExtProcFilter filter = new ExtProcFilter("upstream", upstreamFilter, channel,
            attributes(upstreamFilter.getRequestAttributesList(), headers, host, cluster.getName()),
            Map.of(), trace::add, stats);
        try {
          if (filter.sendsRequestHeaders()) {
            ExtProcFilter.Outcome o = filter.requestHeaders(headers, body.length == 0);
            Upstream answered = upstreamLocal(o, trace);
            if (answered != null) {
              return answered;
            }
            if (((ExtProcFilter.Continue) o).body() != null) {
              attemptBody = ((ExtProcFilter.Continue) o).body();
            }
          }
          if (attemptBody.length > 0 && filter.requestBodyMode() != BodySendMode.NONE) {
            ExtProcFilter.Outcome o = filter.requestBody(attemptBody, true, headers);
            Upstream answered = upstreamLocal(o, trace);
            if (answered != null) {
              return answered;
            }
            if (((ExtProcFilter.Continue) o).body() != null) {
              attemptBody = ((ExtProcFilter.Continue) o).body();
            }
          }
        } finally {
          filter.close(false);
        }
      }
      stats.upstreamRequests.incrementAndGet();
      Upstream result = call(host, headers, attemptBody, perTry, deadline, trace);
      last = result;
      String reason = retryReason(result, retryOn, retry);
      if (reason == null || attempt == maxAttempts || System.nanoTime() >= deadline) {
        return result;
      }
      drain(result);
      stats.retries.incrementAndGet();
      Duration backOff = backOff(retry, result, attempt);
      trace.add("envoy: retry (" + reason + ") after " + backOff.toMillis() + " ms");
      sleep(backOff);
    }
    return last;
  }

  private Upstream upstreamLocal(ExtProcFilter.Outcome o, List<String> trace) {
    if (o instanceof ExtProcFilter.LocalReply r) {
      HeaderList h = new HeaderList(r.headers());
      h.set(":status", Integer.toString(r.status()));
      h.set("content-length", Integer.toString(r.body().length));
      return new Upstream(r.status(), h, new java.io.ByteArrayInputStream(r.body()), null);
    }
    if (o instanceof ExtProcFilter.Failure f) {
      return local(f.status(), f.status() == 504 ? "upstream request timeout" : "Internal Server Error", f.details(), trace);
    }
    return null;
  }

  private Upstream call(Host host, HeaderList headers, byte[] body, Duration perTry, long deadline,
      List<String> trace) {
    String scheme = host.tls() ? "https" : "http";
    URI uri = URI.create(scheme + "://" + host.address() + ":" + host.port() + headers.get(":path"));
    HttpRequest.Builder req = HttpRequest.newBuilder(uri)
        .method(headers.get(":method"), body.length == 0 ? HttpRequest.BodyPublishers.noBody()
            : HttpRequest.BodyPublishers.ofByteArray(body));
    for (Map.Entry<String, String> e : headers.entries()) {
      if (!e.getKey().startsWith(":") && !HOP_BY_HOP.contains(e.getKey())) {
        req.header(e.getKey(), e.getValue());
      }
    }
    Duration wait = perTry;
    long left = deadline - System.nanoTime();
    if (deadline != Long.MAX_VALUE && (wait == null || wait.toNanos() > left)) {
      wait = Duration.ofNanos(Math.max(left, 1_000_000));
    }
    if (wait != null) {
      req.timeout(wait);
    }
    try {
      HttpResponse<InputStream> r = http.send(req.build(), HttpResponse.BodyHandlers.ofInputStream());
      HeaderList h = new HeaderList();
      h.add(":status", Integer.toString(r.statusCode()));
      r.headers().map().forEach((k, vs) -> {
        String n = k.toLowerCase(Locale.ROOT);
        if (!n.startsWith(":") && !n.equals("transfer-encoding") && !n.equals("connection")) {
          vs.forEach(v -> h.add(n, v));
        }
      });
      trace.add("upstream: " + r.statusCode() + " from " + host.key());
      return new Upstream(r.statusCode(), h, r.body(), host);
    } catch (HttpConnectTimeoutException | ConnectException e) {
      trace.add("upstream: connect failure to " + host.key());
      Upstream u = local(503, "upstream connect error or disconnect/reset before headers. reset reason: connection failure",
          "upstream_reset_before_response_started{connection_failure}", trace);
      return new Upstream(u.status(), withFlag(u.headers(), "connect-failure"), u.body(), host);
    } catch (HttpTimeoutException e) {
      trace.add("upstream: timeout waiting for " + host.key());
      Upstream u = local(504, "upstream request timeout", "upstream_response_timeout", trace);
      return new Upstream(u.status(), withFlag(u.headers(), "timeout"), u.body(), host);
    } catch (IOException e) {
      trace.add("upstream: reset by " + host.key() + ": " + e);
      Upstream u = local(503, "upstream connect error or disconnect/reset before headers. reset reason: connection termination",
          "upstream_reset_before_response_started{connection_termination}", trace);
      return new Upstream(u.status(), withFlag(u.headers(), "reset"), u.body(), host);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return local(503, "interrupted", "interrupted", trace);
    }
  }

  private static HeaderList withFlag(HeaderList h, String flag) {
    HeaderList out = new HeaderList(h);
    out.set("x-test-envoy-failure", flag);
    return out;
  }

  private static String retryReason(Upstream r, Set<String> retryOn, RetryPolicy policy) {
    if (policy == null) {
      return null;
    }
    String failure = r.headers().get("x-test-envoy-failure");
    if (failure != null) {
      r.headers().remove("x-test-envoy-failure");
      return switch (failure) {
        case "connect-failure" -> retryOn.contains("connect-failure") || retryOn.contains("reset")
            || retryOn.contains("5xx") ? failure : null;
        case "reset" -> retryOn.contains("reset") || retryOn.contains("5xx") ? failure : null;
        case "timeout" -> retryOn.contains("5xx") || retryOn.contains("gateway-error") ? "per-try timeout" : null;
        default -> null;
      };
    }
    int s = r.status();
    if (retryOn.contains("retriable-status-codes") && policy.getRetriableStatusCodesList().contains(s)) {
      return "status " + s;
    }
    if (retryOn.contains("5xx") && s >= 500) {
      return "5xx";
    }
    if (retryOn.contains("gateway-error") && (s == 502 || s == 503 || s == 504)) {
      return "gateway-error";
    }
    return null;
  }

  private static Duration backOff(RetryPolicy policy, Upstream r, int attempt) {
    if (policy.hasRateLimitedRetryBackOff()) {
      var rl = policy.getRateLimitedRetryBackOff();
      for (var reset : rl.getResetHeadersList()) {
        String v = r.headers().get(reset.getName());
        if (v == null) {
          continue;
        }
        try {
          long seconds = reset.getFormat() == RetryPolicy.ResetHeaderFormat.UNIX_TIMESTAMP
              ? Long.parseLong(v.trim()) - System.currentTimeMillis() / 1000
              : (long) Math.ceil(Double.parseDouble(v.trim()));
          Duration d = Duration.ofSeconds(Math.max(0, seconds));
          Duration max = rl.hasMaxInterval() ? toDuration(rl.getMaxInterval()) : Duration.ofSeconds(300);
          return d.compareTo(max) > 0 ? max : d;
        } catch (NumberFormatException ignored) {
          // not a number: fall back to the exponential back-off, as Envoy does
        }
      }
    }
    Duration base = policy.hasRetryBackOff() ? toDuration(policy.getRetryBackOff().getBaseInterval())
        : Duration.ofMillis(25);
    Duration max = policy.hasRetryBackOff() && policy.getRetryBackOff().hasMaxInterval()
        ? toDuration(policy.getRetryBackOff().getMaxInterval()) : base.multipliedBy(10);
    long ceiling = Math.min(max.toMillis(), base.toMillis() * (1L << Math.min(attempt, 20)));
    return Duration.ofMillis((long) (Math.random() * ceiling));
  }

  private Host pick(Cluster cluster, List<Host> hosts, HeaderList headers, Set<String> excludedHosts,
      Set<Integer> excludedPriorities, int selectionAttempts, RouteAction action) {
    List<Host> healthy = hosts.stream().filter(h -> !unhealthy.contains(h.key())).toList();
    int priority = healthy.stream().map(Host::priority).filter(p -> !excludedPriorities.contains(p))
        .min(Integer::compare)
        .orElseGet(() -> healthy.stream().map(Host::priority).min(Integer::compare).orElse(-1));
    if (priority < 0) {
      return null;
    }
    List<Host> level = healthy.stream().filter(h -> h.priority() == priority).toList();
    List<Host> weighted = new ArrayList<>();
    for (Host h : level) {
      for (int i = 0; i < Math.max(1, h.weight()); i++) {
        weighted.add(h);
      }
    }
    String hashHeader = action.getHashPolicyList().stream().filter(hp -> hp.hasHeader())
        .map(hp -> hp.getHeader().getHeaderName()).findFirst().orElse(null);
    Host chosen = null;
    for (int i = 0; i < selectionAttempts; i++) {
      if (cluster.getLbPolicy() == Cluster.LbPolicy.RING_HASH || cluster.getLbPolicy() == Cluster.LbPolicy.MAGLEV) {
        String key = hashHeader == null ? null : headers.get(hashHeader);
        long n = key == null ? roundRobin.computeIfAbsent(cluster.getName(), k -> new AtomicLong()).getAndIncrement()
            : Integer.toUnsignedLong(key.hashCode()) + i;
        chosen = weighted.get((int) (n % weighted.size()));
      } else {
        long n = roundRobin.computeIfAbsent(cluster.getName() + "/" + priority, k -> new AtomicLong()).getAndIncrement();
        chosen = weighted.get((int) (n % weighted.size()));
      }
      if (!excludedHosts.contains(chosen.key())) {
        break;
      }
    }
    return chosen;
  }

  private List<Host> hosts(Cluster cluster) {
    ClusterLoadAssignment cla = cluster.hasLoadAssignment() ? cluster.getLoadAssignment() : endpoints.get(
        cluster.getEdsClusterConfig().getServiceName().isEmpty() ? cluster.getName()
            : cluster.getEdsClusterConfig().getServiceName());
    List<Host> out = new ArrayList<>();
    if (cla == null) {
      return out;
    }
    boolean tls = cluster.hasTransportSocket() || cluster.getTransportSocketMatchesCount() > 0;
    for (LocalityLbEndpoints locality : cla.getEndpointsList()) {
      for (LbEndpoint e : locality.getLbEndpointsList()) {
        var status = e.getHealthStatus();
        if (status == io.envoyproxy.envoy.config.core.v3.HealthStatus.DRAINING
            || status == io.envoyproxy.envoy.config.core.v3.HealthStatus.UNHEALTHY
            || status == io.envoyproxy.envoy.config.core.v3.HealthStatus.TIMEOUT) {
          continue; // EDS-reported state: no new requests to such hosts
        }
        var addr = e.getEndpoint().getAddress().getSocketAddress();
        int weight = e.hasLoadBalancingWeight() ? e.getLoadBalancingWeight().getValue() : 1;
        boolean hostTls = tls && !e.getMetadata().getFilterMetadataOrDefault("envoy.transport_socket_match",
            Struct.getDefaultInstance()).getFieldsOrDefault("tls", Value.newBuilder().setStringValue("true").build())
            .getStringValue().equals("false");
        out.add(new Host(addr.getAddress(), addr.getPortValue(), locality.getPriority(), weight, e.getMetadata(),
            e.getEndpoint().getHostname(), hostTls));
      }
    }
    return out;
  }

  private static ExternalProcessor upstreamFilter(Cluster cluster) {
    Any any = cluster.getTypedExtensionProtocolOptionsMap().get("envoy.extensions.upstreams.http.v3.HttpProtocolOptions");
    if (any == null) {
      return null;
    }
    try {
      HttpProtocolOptions options = any.unpack(HttpProtocolOptions.class);
      for (var f : options.getHttpFiltersList()) {
        if (f.getTypedConfig().is(ExternalProcessor.class)) {
          return f.getTypedConfig().unpack(ExternalProcessor.class);
        }
      }
      return null;
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalArgumentException("cluster " + cluster.getName() + " has unreadable protocol options", e);
    }
  }

  /** Resolves the attributes a filter asks for, as Envoy's CEL attribute names define them. */
  private static Map<String, Struct> attributes(List<String> names, HeaderList headers, Host host, String cluster) {
    if (names.isEmpty()) {
      return Map.of();
    }
    Struct.Builder s = Struct.newBuilder();
    for (String name : names) {
      Value v = null;
      Matcher m = HOST_METADATA_PATH.matcher(name);
      if (m.matches() && host != null) {
        Struct ns = host.metadata().getFilterMetadataMap().get(m.group(1));
        v = ns == null ? null : ns.getFieldsMap().get(m.group(2));
      } else if (name.equals("xds.upstream_host_metadata") && host != null) {
        Struct.Builder fm = Struct.newBuilder();
        host.metadata().getFilterMetadataMap().forEach((k, st) -> fm.putFields(k, Value.newBuilder().setStructValue(st).build()));
        v = Value.newBuilder().setStructValue(Struct.newBuilder()
            .putFields("filter_metadata", Value.newBuilder().setStructValue(fm).build())).build();
      } else if (name.equals("xds.cluster_name") && cluster != null) {
        v = Value.newBuilder().setStringValue(cluster).build();
      } else if (name.equals("request.path")) {
        v = Value.newBuilder().setStringValue(headers.get(":path")).build();
      } else if (name.equals("request.method")) {
        v = Value.newBuilder().setStringValue(headers.get(":method")).build();
      } else if (name.equals("source.address")) {
        v = Value.newBuilder().setStringValue("127.0.0.1:40000").build();
      }
      if (v != null) { // Envoy leaves out attributes it cannot resolve
        s.putFields(name, v);
      }
    }
    return s.getFieldsCount() == 0 ? Map.of() : Map.of("envoy.filters.http.ext_proc", s.build());
  }

  // --- response path ----------------------------------------------------------------------------

  /** Runs the response through the router filter to the client; false when the stream was reset. */
  private boolean respond(Upstream up, ExtProcFilter router, ResponseSink sink, List<String> trace) {
    HeaderList headers = up.headers();
    ExtProcFilter filter = router;
    if (filter != null && up.host() != null) {
      // Response attributes resolve against the host that answered.
      filter.setResponseAttributes(attributes(routerFilter.getResponseAttributesList(), new HeaderList(),
          up.host(), null));
    }
    try (InputStream in = up.body()) {
      if (filter == null || !filter.sendsResponseHeaders() && filter.responseBodyMode() == BodySendMode.NONE) {
        copy(in, headers, sink);
        return true;
      }
      boolean noBody = "0".equals(headers.get("content-length")) || up.status() == 204 || up.status() == 304;
      if (filter.sendsResponseHeaders()) {
        ExtProcFilter.Outcome o = filter.responseHeaders(headers, noBody);
        if (localAnswer(o, sink, trace)) {
          return true;
        }
      }
      BodySendMode mode = filter.responseBodyMode();
      if (mode == BodySendMode.NONE || noBody) {
        copy(in, headers, sink);
        return true;
      }
      if (mode == BodySendMode.BUFFERED || mode == BodySendMode.BUFFERED_PARTIAL) {
        byte[] all = readLimited(in, bufferLimitBytes + 1);
        if (all.length > bufferLimitBytes && mode == BodySendMode.BUFFERED) {
          sendLocal(sink, 500, "Internal Server Error", "response_payload_too_large", trace);
          return true;
        }
        ExtProcFilter.Outcome o = filter.responseBody(all, true, headers);
        if (localAnswer(o, sink, trace)) {
          return true;
        }
        byte[] out = ((ExtProcFilter.Continue) o).body() == null ? all : ((ExtProcFilter.Continue) o).body();
        sink.start(status(headers), strip(headers));
        sink.data(out);
        sink.end();
        return true;
      }
      // STREAMED: headers go to the client now, each chunk after the processor answers it.
      headers.remove("content-length");
      sink.start(status(headers), strip(headers));
      byte[] buf = new byte[8192];
      int n;
      while ((n = in.read(buf)) >= 0) {
        if (n == 0) {
          continue;
        }
        ExtProcFilter.Outcome o = filter.responseBody(Arrays.copyOf(buf, n), false, headers);
        if (!(o instanceof ExtProcFilter.Continue c)) {
          sink.reset("ext_proc failed mid-stream: " + o);
          return false;
        }
        byte[] chunk = c.body() == null ? Arrays.copyOf(buf, n) : c.body();
        if (chunk.length > 0) {
          sink.data(chunk);
        }
      }
      ExtProcFilter.Outcome o = filter.responseBody(new byte[0], true, headers);
      if (o instanceof ExtProcFilter.Continue c && c.body() != null && c.body().length > 0) {
        sink.data(c.body());
      } else if (!(o instanceof ExtProcFilter.Continue)) {
        sink.reset("ext_proc failed at end of stream: " + o);
        return false;
      }
      sink.end();
      return true;
    } catch (IOException e) {
      trace.add("upstream: stream broke: " + e);
      sink.reset("upstream reset: " + e.getMessage());
      return false;
    }
  }

  private void copy(InputStream in, HeaderList headers, ResponseSink sink) throws IOException {
    sink.start(status(headers), strip(headers));
    byte[] buf = new byte[8192];
    int n;
    while ((n = in.read(buf)) >= 0) {
      if (n > 0) {
        sink.data(Arrays.copyOf(buf, n));
      }
    }
    sink.end();
  }

  private static int status(HeaderList h) {
    return Integer.parseInt(h.get(":status"));
  }

  private static HeaderList strip(HeaderList h) {
    HeaderList out = new HeaderList();
    h.entries().forEach(e -> {
      if (!e.getKey().startsWith(":")) {
        out.add(e.getKey(), e.getValue());
      }
    });
    return out;
  }

  private static byte[] readLimited(InputStream in, int limit) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] buf = new byte[8192];
    int n;
    while ((n = in.read(buf)) >= 0) {
      out.write(buf, 0, n);
      if (out.size() >= limit) {
        break;
      }
    }
    return out.toByteArray();
  }

  private static void drain(Upstream u) {
    try (InputStream in = u.body()) {
      in.transferTo(OutputStream.nullOutputStream());
    } catch (IOException ignored) {
      // the attempt is being abandoned
    }
  }

  private static Duration toDuration(com.google.protobuf.Duration d) {
    return Duration.ofMillis(Durations.toMillis(d));
  }

  private static void sleep(Duration d) {
    try {
      Thread.sleep(d.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
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
