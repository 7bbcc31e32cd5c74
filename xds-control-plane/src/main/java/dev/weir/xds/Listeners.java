package dev.weir.xds;

import com.google.protobuf.Any;
import com.google.protobuf.UInt32Value;
import com.google.protobuf.util.Durations;
import dev.weir.config.Wire;
import io.envoyproxy.envoy.config.accesslog.v3.AccessLog;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.AggregatedConfigSource;
import io.envoyproxy.envoy.config.core.v3.ApiVersion;
import io.envoyproxy.envoy.config.core.v3.ConfigSource;
import io.envoyproxy.envoy.config.core.v3.GrpcService;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.listener.v3.Filter;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.extensions.access_loggers.stream.v3.StdoutAccessLog;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode;
import io.envoyproxy.envoy.extensions.filters.http.router.v3.Router;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.Rds;

/**
 * The client listener served over LDS (for {@code envoy/envoy-lds.yaml}). It is the same listener
 * {@code envoy/envoy.yaml} declares statically; a test holds the two equal.
 */
public final class Listeners {
  /** Leaves room for the largest accepted request (4 MiB by default) in the router pass's buffer. */
  static final int BUFFER_LIMIT_BYTES = 5 * 1024 * 1024;

  private Listeners() {}

  /** The router-level ext_proc filter: authenticate, validate, route, stream SSE, read usage. */
  public static ExternalProcessor routerExtProc() {
    return ExternalProcessor.newBuilder()
        .setGrpcService(GrpcService.newBuilder()
            .setEnvoyGrpc(GrpcService.EnvoyGrpc.newBuilder().setClusterName(Wire.EXT_PROC_CLUSTER))
            .setTimeout(Durations.fromSeconds(10))
            .addInitialMetadata(HeaderValue.newBuilder().setKey(Wire.PASS_METADATA).setValue(Wire.ROUTER_PASS)))
        .setFailureModeAllow(false)
        .setMessageTimeout(Durations.fromSeconds(10))
        .setAllowModeOverride(true)
        .setProcessingMode(ProcessingMode.newBuilder()
            .setRequestHeaderMode(ProcessingMode.HeaderSendMode.SEND)
            .setRequestBodyMode(ProcessingMode.BodySendMode.BUFFERED)
            .setResponseHeaderMode(ProcessingMode.HeaderSendMode.SEND)
            .setResponseBodyMode(ProcessingMode.BodySendMode.BUFFERED)
            .setRequestTrailerMode(ProcessingMode.HeaderSendMode.SKIP)
            .setResponseTrailerMode(ProcessingMode.HeaderSendMode.SKIP))
        .addRequestAttributes("source.address")
        .addResponseAttributes(Wire.BACKEND_ATTRIBUTE)
        .setMetadataOptions(io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.MetadataOptions.newBuilder()
            .setForwardingNamespaces(io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.MetadataOptions
                .MetadataNamespaces.newBuilder().addUntyped("envoy.filters.http.jwt_authn")))
        .build();
  }

  public static Listener listener(int port) {
    HttpConnectionManager hcm = HttpConnectionManager.newBuilder()
        .setStatPrefix("weir")
        .setCodecType(HttpConnectionManager.CodecType.AUTO)
        .setRequestTimeout(Durations.fromSeconds(0))
        .setStreamIdleTimeout(Durations.fromSeconds(300))
        .setRds(Rds.newBuilder().setRouteConfigName(Wire.ROUTE_CONFIG_NAME)
            .setConfigSource(ConfigSource.newBuilder().setResourceApiVersion(ApiVersion.V3)
                .setAds(AggregatedConfigSource.getDefaultInstance())))
        .addAccessLog(AccessLog.newBuilder().setName("envoy.access_loggers.stdout")
            .setTypedConfig(Any.pack(StdoutAccessLog.getDefaultInstance())))
        .addHttpFilters(HttpFilter.newBuilder().setName("envoy.filters.http.ext_proc")
            .setTypedConfig(Any.pack(routerExtProc())))
        .addHttpFilters(HttpFilter.newBuilder().setName("envoy.filters.http.router")
            .setTypedConfig(Any.pack(Router.getDefaultInstance())))
        .build();
    return Listener.newBuilder()
        .setName("weir")
        .setAddress(Address.newBuilder().setSocketAddress(
            SocketAddress.newBuilder().setAddress("0.0.0.0").setPortValue(port)))
        .setPerConnectionBufferLimitBytes(UInt32Value.of(BUFFER_LIMIT_BYTES))
        .addFilterChains(FilterChain.newBuilder().addFilters(Filter.newBuilder()
            .setName("envoy.filters.network.http_connection_manager")
            .setTypedConfig(Any.pack(hcm))))
        .build();
  }
}
