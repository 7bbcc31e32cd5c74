package dev.weir.xds;

import com.google.protobuf.Any;
import com.google.protobuf.BoolValue;
import com.google.protobuf.UInt32Value;
import com.google.protobuf.util.Durations;
import dev.weir.config.Wire;
import dev.weir.config.v1.McpServer;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.DataSource;
import io.envoyproxy.envoy.config.core.v3.Http1ProtocolOptions;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.core.v3.TransportSocket;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.Endpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.envoyproxy.envoy.config.route.v3.HeaderMatcher;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CommonTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext;
import io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import java.net.URI;

/**
 * The Envoy resources of one MCP server: a cluster for its host and a route that the router pass
 * selects with {@code x-weir-mcp-server} (it also rewrites the path to the server's endpoint path,
 * so one route serves both the {@code /mcp/<name>} and the host form). No upstream ext_proc pass:
 * one server is one host with one credential, which the router pass already injected.
 */
final class McpResources {
  private McpResources() {}

  static Cluster cluster(McpServer server) {
    URI url = URI.create(server.getUrl());
    boolean tls = "https".equals(url.getScheme());
    int port = url.getPort() > 0 ? url.getPort() : tls ? 443 : 80;
    ClusterLoadAssignment cla = ClusterLoadAssignment.newBuilder()
        .setClusterName(Wire.mcpCluster(server.getName()))
        .addEndpoints(LocalityLbEndpoints.newBuilder().addLbEndpoints(LbEndpoint.newBuilder()
            .setEndpoint(Endpoint.newBuilder().setHostname(url.getHost()).setAddress(Address.newBuilder()
                .setSocketAddress(SocketAddress.newBuilder().setAddress(url.getHost()).setPortValue(port))))))
        .build();
    Cluster.Builder cluster = Cluster.newBuilder()
        .setName(cla.getClusterName())
        .setConnectTimeout(Durations.fromSeconds(5))
        // STRICT_DNS resolves (and re-resolves) a host name; an IP literal resolves to itself.
        .setType(Cluster.DiscoveryType.STRICT_DNS)
        .setDnsLookupFamily(Cluster.DnsLookupFamily.V4_PREFERRED)
        .setLoadAssignment(cla)
        // JSON-RPC answers are buffered for the router pass (tools/list filtering).
        .setPerConnectionBufferLimitBytes(UInt32Value.of(8 * 1024 * 1024));
    HttpProtocolOptions.Builder protocol = HttpProtocolOptions.newBuilder()
        .setExplicitHttpConfig(HttpProtocolOptions.ExplicitHttpConfig.newBuilder()
            .setHttpProtocolOptions(Http1ProtocolOptions.getDefaultInstance()));
    if (tls) {
      cluster.setTransportSocket(TransportSocket.newBuilder().setName("envoy.transport_sockets.tls")
          .setTypedConfig(Any.pack(UpstreamTlsContext.newBuilder().setSni(url.getHost())
              .setCommonTlsContext(CommonTlsContext.newBuilder().setValidationContext(
                  CertificateValidationContext.newBuilder()
                      .setTrustedCa(DataSource.newBuilder().setFilename(EnvoyResources.SYSTEM_CA_BUNDLE))))
              .build())));
      protocol.setUpstreamHttpProtocolOptions(io.envoyproxy.envoy.config.core.v3.UpstreamHttpProtocolOptions
          .newBuilder().setAutoSni(true).setAutoSanValidation(true));
    }
    cluster.putTypedExtensionProtocolOptions(EnvoyResources.PROTOCOL_OPTIONS_KEY, Any.pack(protocol.build()));
    return cluster.build();
  }

  static Route route(McpServer server) {
    return Route.newBuilder()
        .setName("mcp-" + server.getName())
        .setMatch(RouteMatch.newBuilder().setPrefix("/")
            .addHeaders(HeaderMatcher.newBuilder().setName(Wire.MCP_SERVER_HEADER)
                .setStringMatch(StringMatcher.newBuilder().setExact(server.getName()))))
        .setRoute(RouteAction.newBuilder()
            .setCluster(Wire.mcpCluster(server.getName()))
            .setAutoHostRewrite(BoolValue.of(true))
            // A GET stream (session revisions) or a long tool call has no overall deadline; a
            // connection with no bytes moving for idleSeconds is ended (RouteAction.idle_timeout).
            .setTimeout(Durations.fromSeconds(0))
            .setIdleTimeout(Durations.fromSeconds(server.getIdleSeconds())))
        .build();
  }
}
