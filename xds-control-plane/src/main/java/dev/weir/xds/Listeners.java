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
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.LocalReplyConfig;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.Rds;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.ResponseMapper;
import io.envoyproxy.envoy.config.accesslog.v3.AccessLogFilter;
import io.envoyproxy.envoy.config.accesslog.v3.AndFilter;
import io.envoyproxy.envoy.config.accesslog.v3.ComparisonFilter;
import io.envoyproxy.envoy.config.accesslog.v3.ExtensionFilter;
import io.envoyproxy.envoy.config.accesslog.v3.ResponseFlagFilter;
import io.envoyproxy.envoy.config.accesslog.v3.StatusCodeFilter;
import io.envoyproxy.envoy.config.core.v3.RuntimeUInt32;
import io.envoyproxy.envoy.config.core.v3.SubstitutionFormatString;
import io.envoyproxy.envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;

/**
 * The client listener served over LDS (for {@code envoy/envoy-lds.yaml}). It is the same listener
 * {@code envoy/envoy.yaml} declares statically; a test holds the two equal.
 */
public final class Listeners {
  /** Leaves room for the largest accepted request (4 MiB by default) in the router pass's buffer. */
  static final int BUFFER_LIMIT_BYTES = 5 * 1024 * 1024;

  private Listeners() {}

  /**
   * The gRPC service both ext_proc filters call. A stream that cannot start on one ext-proc-server
   * replica (connection refused, stream refused, or UNAVAILABLE before any answer: what a replica
   * draining on SIGTERM does to new streams) is retried on another host, so a rolling update costs
   * no 500s. Envoy's async gRPC client applies GrpcService.retry_policy to streams that set none of
   * their own (envoy/config/core/v3/grpc_service.proto), with its router's rule that only an
   * attempt whose response has not started is retried: an exchange in flight is never replayed.
   */
  public static GrpcService extProcService(String pass) {
    return GrpcService.newBuilder()
        .setEnvoyGrpc(GrpcService.EnvoyGrpc.newBuilder().setClusterName(Wire.EXT_PROC_CLUSTER))
        .setTimeout(Durations.fromSeconds(10))
        .addInitialMetadata(HeaderValue.newBuilder().setKey(Wire.PASS_METADATA).setValue(pass))
        .setRetryPolicy(io.envoyproxy.envoy.config.core.v3.RetryPolicy.newBuilder()
            .setRetryOn(EXT_PROC_RETRY_ON)
            .setNumRetries(UInt32Value.of(2))
            .addRetryHostPredicate(io.envoyproxy.envoy.config.core.v3.RetryPolicy.RetryHostPredicate.newBuilder()
                .setName("envoy.retry_host_predicates.previous_hosts")
                .setTypedConfig(Any.pack(
                    io.envoyproxy.envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate.getDefaultInstance())))
            .setHostSelectionRetryMaxAttempts(3))
        .build();
  }

  /** The failures of a stream's start that another ext-proc-server replica can absorb. */
  public static final String EXT_PROC_RETRY_ON = "connect-failure,refused-stream,unavailable";

  /** The router-level ext_proc filter: authenticate, validate, route, stream SSE, read usage. */
  public static ExternalProcessor routerExtProc() {
    return ExternalProcessor.newBuilder()
        .setGrpcService(extProcService(Wire.ROUTER_PASS))
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

  /**
   * Envoy's own error answers in OpenAI's error JSON, so SDKs surface them. Each mapper matches
   * only replies Envoy makes itself (by response code details or response flag): the ext_proc
   * server's immediate responses are local replies too ({@code ExtProcFilter::sendImmediateResponse}
   * in {@code source/extensions/filters/http/ext_proc/ext_proc.cc}) and already carry OpenAI JSON.
   * See {@code LocalReplyConfig} in {@code http_connection_manager.proto}.
   */
  public static LocalReplyConfig localReplies() {
    return LocalReplyConfig.newBuilder()
        // Envoy's buffer limit (FilterManager: request_payload_too_large).
        .addMappers(openAiError(413, celDetails("response.code_details == 'request_payload_too_large'"),
            "invalid_request_error", "request_too_large", "The request body is larger than this gateway accepts."))
        // No healthy host in the pool's cluster (response flag UH).
        .addMappers(openAiError(503, flag("UH"), "server_error", "no_healthy_upstream",
            "No backend of this model's pool is available; retry later."))
        // The route or per-try timeout fired (response flag UT).
        .addMappers(openAiError(504, flag("UT"), "server_error", "upstream_timeout",
            "The backend did not answer in time."))
        // The ext_proc server could not be reached or failed the stream: ext_proc.cc onGrpcError
        // answers 500 with details "ext_proc_error_gRPC_error_<status>" (fail closed).
        .addMappers(openAiError(500, celDetails("response.code_details.startsWith('ext_proc_error')"),
            "server_error", "gateway_unavailable", "The gateway could not process this request; retry later."))
        .build();
  }

  private static AccessLogFilter flag(String flag) {
    return AccessLogFilter.newBuilder().setResponseFlagFilter(ResponseFlagFilter.newBuilder().addFlags(flag)).build();
  }

  private static AccessLogFilter celDetails(String expression) {
    return AccessLogFilter.newBuilder().setExtensionFilter(ExtensionFilter.newBuilder()
        .setName("envoy.access_loggers.extension_filters.cel")
        .setTypedConfig(Any.pack(ExpressionFilter.newBuilder().setExpression(expression).build()))).build();
  }

  private static ResponseMapper openAiError(int status, AccessLogFilter filter, String type, String code,
      String message) {
    Struct error = Struct.newBuilder()
        .putFields("message", Value.newBuilder().setStringValue(message).build())
        .putFields("type", Value.newBuilder().setStringValue(type).build())
        .putFields("param", Value.newBuilder().setNullValue(com.google.protobuf.NullValue.NULL_VALUE).build())
        .putFields("code", Value.newBuilder().setStringValue(code).build())
        .build();
    return ResponseMapper.newBuilder()
        .setFilter(AccessLogFilter.newBuilder().setAndFilter(AndFilter.newBuilder()
            .addFilters(AccessLogFilter.newBuilder().setStatusCodeFilter(StatusCodeFilter.newBuilder()
                .setComparison(ComparisonFilter.newBuilder().setOp(ComparisonFilter.Op.EQ)
                    .setValue(RuntimeUInt32.newBuilder().setDefaultValue(status).setRuntimeKey("weir.local_reply." + status)))))
            .addFilters(filter)))
        .setBodyFormatOverride(SubstitutionFormatString.newBuilder()
            .setJsonFormat(Struct.newBuilder().putFields("error", Value.newBuilder().setStructValue(error).build())))
        .build();
  }

  /** The listener with the default of trusting no X-Forwarded-For hop, as envoy.yaml has it. */
  public static Listener listener(int port) {
    return listener(port, 0);
  }

  /**
   * @param xffTrustedHops X-Forwarded-For entries appended by trusted proxies in front of Envoy
   */
  public static Listener listener(int port, int xffTrustedHops) {
    HttpConnectionManager hcm = HttpConnectionManager.newBuilder()
        .setStatPrefix("weir")
        // The client address (source.address for ext_proc, and the XFF Envoy appends) is the peer,
        // or the entry xffTrustedHops back in XFF; never what the client wrote first
        // (ConnectionManagerUtility::mutateRequestHeaders, source/common/http/conn_manager_utility.cc).
        .setUseRemoteAddress(com.google.protobuf.BoolValue.of(true))
        .setXffNumTrustedHops(xffTrustedHops)
        .setLocalReplyConfig(localReplies())
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
