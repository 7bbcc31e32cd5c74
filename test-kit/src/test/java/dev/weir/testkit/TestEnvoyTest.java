package dev.weir.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.BoolValue;
import com.google.protobuf.ByteString;
import com.google.protobuf.UInt32Value;
import com.google.protobuf.util.Durations;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.Endpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.envoyproxy.envoy.config.route.v3.HeaderMatcher;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.config.core.v3.GrpcService;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.CommonResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ExternalProcessorGrpc;
import io.envoyproxy.envoy.service.ext_proc.v3.HeaderMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ImmediateResponse;
import io.envoyproxy.envoy.type.v3.HttpStatus;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The emulator applies Envoy 1.34's ext_proc rules, checked against a scripted ext_proc server. */
class TestEnvoyTest {
  private Server server;
  private ScriptedUpstream upstream;
  private final List<ProcessingRequest> seen = new CopyOnWriteArrayList<>();

  @AfterEach
  void stop() {
    if (server != null) {
      server.shutdownNow();
    }
    if (upstream != null) {
      upstream.close();
    }
  }

  /** Starts an ext_proc server answering each message with {@code answer}, and an emulator. */
  private TestEnvoy envoy(ExternalProcessor.Builder filter, Function<ProcessingRequest, ProcessingResponse> answer)
      throws Exception {
    server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
        .addService(new ExternalProcessorGrpc.ExternalProcessorImplBase() {
          @Override
          public StreamObserver<ProcessingRequest> process(StreamObserver<ProcessingResponse> out) {
            return new StreamObserver<>() {
              public void onNext(ProcessingRequest r) {
                seen.add(r);
                ProcessingResponse a = answer.apply(r);
                if (a != null) {
                  out.onNext(a);
                }
              }
              public void onError(Throwable t) {}
              public void onCompleted() { out.onCompleted(); }
            };
          }
        }).build().start();
    upstream = new ScriptedUpstream("up");
    Cluster cluster = Cluster.newBuilder().setName("c").setLoadAssignment(ClusterLoadAssignment.newBuilder()
        .setClusterName("c").addEndpoints(LocalityLbEndpoints.newBuilder().addLbEndpoints(LbEndpoint.newBuilder()
            .setEndpoint(Endpoint.newBuilder().setAddress(Address.newBuilder().setSocketAddress(
                SocketAddress.newBuilder().setAddress("127.0.0.1").setPortValue(upstream.port()))))
            .setLoadBalancingWeight(UInt32Value.of(1))))).build();
    RouteConfiguration routes = RouteConfiguration.newBuilder().addVirtualHosts(VirtualHost.newBuilder()
        .addDomains("*")
        .addRoutes(Route.newBuilder().setMatch(RouteMatch.newBuilder().setPrefix("/")
            .addHeaders(HeaderMatcher.newBuilder().setName("x-go").setPresentMatch(true)))
            .setRoute(RouteAction.newBuilder().setCluster("c")))).build();
    if (!filter.hasMessageTimeout()) {
      filter.setMessageTimeout(Durations.fromSeconds(5)); // a cold gRPC channel can exceed Envoy's 200 ms default
    }
    filter.setGrpcService(GrpcService.newBuilder().setEnvoyGrpc(GrpcService.EnvoyGrpc.newBuilder().setClusterName("x")));
    return TestEnvoy.builder().extProc("127.0.0.1", server.getPort()).routerFilter(filter.build())
        .routes(routes).cluster(cluster).build();
  }

  private static HeaderValueOption set(String k, String v) {
    return HeaderValueOption.newBuilder().setHeader(HeaderValue.newBuilder().setKey(k).setRawValue(ByteString.copyFromUtf8(v)))
        .setAppendAction(HeaderValueOption.HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD).build();
  }

  private static ProcessingResponse headers(HeaderMutation.Builder m, boolean clearRouteCache) {
    return ProcessingResponse.newBuilder().setRequestHeaders(HeadersResponse.newBuilder().setResponse(
        CommonResponse.newBuilder().setHeaderMutation(m).setClearRouteCache(clearRouteCache))).build();
  }

  /** Answers request headers with {@code answer} and every other phase with "continue". */
  private static Function<ProcessingRequest, ProcessingResponse> onRequestHeaders(ProcessingResponse answer) {
    return r -> r.hasRequestHeaders() ? answer : cont(r);
  }

  private static ProcessingResponse cont(ProcessingRequest r) {
    return switch (r.getRequestCase()) {
      case REQUEST_HEADERS -> ProcessingResponse.newBuilder().setRequestHeaders(HeadersResponse.getDefaultInstance()).build();
      case REQUEST_BODY -> ProcessingResponse.newBuilder().setRequestBody(BodyResponse.getDefaultInstance()).build();
      case RESPONSE_HEADERS -> ProcessingResponse.newBuilder().setResponseHeaders(HeadersResponse.getDefaultInstance()).build();
      case RESPONSE_BODY -> ProcessingResponse.newBuilder().setResponseBody(BodyResponse.getDefaultInstance()).build();
      default -> null;
    };
  }

  private static final ExchangeRequest CHAT = ExchangeRequest.post("/v1/chat/completions",
      "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");

  @Test
  void routeIsChosenBeforeTheFilterAndOnlyClearRouteCacheMakesItSeeNewHeaders() throws Exception {
    try (TestEnvoy envoy = envoy(ExternalProcessor.newBuilder(),
        onRequestHeaders(headers(HeaderMutation.newBuilder().addSetHeaders(set("x-go", "1")), false)))) {
      ExchangeResponse r = envoy.send(CHAT);
      assertEquals(404, r.status(), "without clear_route_cache the old (no) route stays: " + r.trace());
    }
    stop();
    try (TestEnvoy envoy = envoy(ExternalProcessor.newBuilder(),
        onRequestHeaders(headers(HeaderMutation.newBuilder().addSetHeaders(set("x-go", "1")), true)))) {
      assertEquals(200, envoy.send(CHAT).status());
      assertEquals("1", upstream.last().header("x-go"));
    }
  }

  @Test
  void defaultMutationRulesRefuseHostSchemeMethodAndEnvoyHeadersAndPseudoRemovals() throws Exception {
    try (TestEnvoy envoy = envoy(ExternalProcessor.newBuilder(), onRequestHeaders(headers(HeaderMutation.newBuilder()
        .addSetHeaders(set("x-go", "1")).addSetHeaders(set("host", "evil")).addSetHeaders(set(":method", "DELETE"))
        .addSetHeaders(set("x-envoy-retry-on", "5xx")).addSetHeaders(set(":path", "/rewritten"))
        .addRemoveHeaders(":authority"), true)))) {
      ExchangeResponse r = envoy.send(CHAT);
      assertEquals(404, r.status(), "the upstream has nothing at /rewritten: " + r.trace());
      assertEquals(4, envoy.stats().rejectedHeaderMutations.get());
      assertEquals("/rewritten", upstream.last().path(), ":path may be set");
      assertEquals("POST", upstream.last().method());
      assertNull(upstream.last().header("x-envoy-retry-on"));
    }
  }

  @Test
  void modeOverrideIsIgnoredUnlessAllowed() throws Exception {
    Function<ProcessingRequest, ProcessingResponse> streamIt = r -> {
      if (r.hasRequestHeaders()) {
        return headers(HeaderMutation.newBuilder().addSetHeaders(set("x-go", "1")), true);
      }
      if (r.hasResponseHeaders()) {
        return cont(r).toBuilder().setModeOverride(ProcessingMode.newBuilder()
            .setResponseBodyMode(ProcessingMode.BodySendMode.STREAMED)).build();
      }
      return cont(r);
    };
    ProcessingMode buffered = ProcessingMode.newBuilder().setResponseBodyMode(ProcessingMode.BodySendMode.BUFFERED).build();
    try (TestEnvoy envoy = envoy(ExternalProcessor.newBuilder().setProcessingMode(buffered), streamIt)) {
      envoy.send(CHAT);
      assertEquals(1, envoy.stats().ignoredModeOverrides.get());
      assertTrue(seen.stream().filter(ProcessingRequest::hasResponseBody).allMatch(b -> b.getResponseBody().getEndOfStream()),
          "still buffered: one body message");
    }
    stop();
    seen.clear();
    try (TestEnvoy envoy = envoy(ExternalProcessor.newBuilder().setProcessingMode(buffered).setAllowModeOverride(true),
        streamIt)) {
      envoy.send(CHAT);
      long bodyMessages = seen.stream().filter(ProcessingRequest::hasResponseBody).count();
      assertTrue(bodyMessages >= 2, "streamed: chunks then an end-of-stream message, got " + bodyMessages);
    }
  }

  @Test
  void silentProcessorTimesOutWith504UnlessFailureModeAllow() throws Exception {
    try (TestEnvoy envoy = envoy(ExternalProcessor.newBuilder().setMessageTimeout(Durations.fromMillis(100)), r -> null)) {
      ExchangeResponse r = envoy.send(CHAT);
      assertEquals(504, r.status());
      assertEquals(1, envoy.stats().messageTimeouts.get());
    }
    stop();
    try (TestEnvoy envoy = envoy(ExternalProcessor.newBuilder().setMessageTimeout(Durations.fromMillis(100))
        .setFailureModeAllow(true), r -> null)) {
      assertEquals(404, envoy.send(CHAT).status(), "continues without the processor (and so has no route)");
      assertEquals(1, envoy.stats().failureModeAllowed.get());
    }
  }

  @Test
  void bufferedBodyMutationMustLeaveACorrectContentLength() throws Exception {
    ProcessingMode bufferedRequest = ProcessingMode.newBuilder().setRequestBodyMode(ProcessingMode.BodySendMode.BUFFERED).build();
    Function<ProcessingRequest, ProcessingResponse> rewrite = r -> r.hasRequestBody()
        ? ProcessingResponse.newBuilder().setRequestBody(BodyResponse.newBuilder().setResponse(CommonResponse.newBuilder()
            .setBodyMutation(BodyMutation.newBuilder().setBody(ByteString.copyFromUtf8("{}"))))).build()
        : r.hasRequestHeaders() ? headers(HeaderMutation.newBuilder().addSetHeaders(set("x-go", "1")), true) : cont(r);
    try (TestEnvoy envoy = envoy(ExternalProcessor.newBuilder().setProcessingMode(bufferedRequest), rewrite)) {
      assertEquals(500, envoy.send(CHAT).status(), "content-length still names the old size");
    }
  }

  @Test
  void envoy134IgnoresAnAnswerForTheWrongPhaseAndDropsTheProcessor() throws Exception {
    try (TestEnvoy envoy = envoy(ExternalProcessor.newBuilder(),
        r -> ProcessingResponse.newBuilder().setResponseBody(BodyResponse.getDefaultInstance()).build())) {
      ExchangeResponse r = envoy.send(CHAT);
      assertEquals(404, r.status(), "the exchange goes on unprocessed (and so has no route): " + r.trace());
      assertEquals(1, envoy.stats().spuriousMessages.get());
      assertEquals(1, seen.size(), "no message after the spurious answer: " + r.trace());
    }
  }

  @Test
  void envoy134IgnoresAnImmediateResponseWhileDisableImmediateResponseIsSet() throws Exception {
    ProcessingResponse deny = ProcessingResponse.newBuilder().setImmediateResponse(ImmediateResponse.newBuilder()
        .setStatus(HttpStatus.newBuilder().setCodeValue(403))).build();
    try (TestEnvoy envoy = envoy(ExternalProcessor.newBuilder().setDisableImmediateResponse(true), r -> deny)) {
      ExchangeResponse r = envoy.send(CHAT);
      assertEquals(404, r.status(), "neither the 403 nor a 500: " + r.trace());
      assertEquals(1, envoy.stats().spuriousMessages.get());
    }
    stop();
    seen.clear();
    try (TestEnvoy envoy = envoy(ExternalProcessor.newBuilder(), r -> deny)) {
      assertEquals(403, envoy.send(CHAT).status(), "honoured when not disabled");
    }
  }

  @Test
  void continueAndReplaceWithoutABodyMutationKeepsTheOriginalBodyAndStopsBodyMessages() throws Exception {
    ProcessingMode bufferedRequest = ProcessingMode.newBuilder().setRequestBodyMode(ProcessingMode.BodySendMode.BUFFERED).build();
    ProcessingResponse replace = ProcessingResponse.newBuilder().setRequestHeaders(HeadersResponse.newBuilder()
        .setResponse(CommonResponse.newBuilder().setStatus(CommonResponse.ResponseStatus.CONTINUE_AND_REPLACE)
            .setHeaderMutation(HeaderMutation.newBuilder().addSetHeaders(set("x-go", "1"))).setClearRouteCache(true)))
        .build();
    try (TestEnvoy envoy = envoy(ExternalProcessor.newBuilder().setProcessingMode(bufferedRequest),
        onRequestHeaders(replace))) {
      ExchangeResponse r = envoy.send(CHAT);
      assertEquals(200, r.status(), r.trace().toString());
      assertEquals("m", upstream.last().json().path("model").asText(), "the client's body went upstream");
      assertTrue(seen.stream().noneMatch(ProcessingRequest::hasRequestBody), "no body message after the replace");
    }
  }

  @Test
  void continueAndReplaceOnResponseHeadersSendsTheReplacementBody() throws Exception {
    Function<ProcessingRequest, ProcessingResponse> answer = r -> {
      if (r.hasRequestHeaders()) {
        return headers(HeaderMutation.newBuilder().addSetHeaders(set("x-go", "1")), true);
      }
      if (r.hasResponseHeaders()) {
        return ProcessingResponse.newBuilder().setResponseHeaders(HeadersResponse.newBuilder().setResponse(
            CommonResponse.newBuilder().setStatus(CommonResponse.ResponseStatus.CONTINUE_AND_REPLACE)
                .setBodyMutation(BodyMutation.newBuilder().setBody(ByteString.copyFromUtf8("replaced"))))).build();
      }
      return cont(r);
    };
    try (TestEnvoy envoy = envoy(ExternalProcessor.newBuilder(), answer)) {
      assertEquals("replaced", envoy.send(CHAT).bodyText());
    }
  }

  @Test
  void appendActionIsIgnoredSoHeadersAreOverwrittenUnlessTheDeprecatedAppendFlagIsSet() throws Exception {
    HeaderValueOption appendAction = HeaderValueOption.newBuilder()
        .setHeader(HeaderValue.newBuilder().setKey("x-a").setRawValue(ByteString.copyFromUtf8("new")))
        .setAppendAction(HeaderValueOption.HeaderAppendAction.APPEND_IF_EXISTS_OR_ADD).build();
    HeaderValueOption appendFlag = HeaderValueOption.newBuilder()
        .setHeader(HeaderValue.newBuilder().setKey("x-b").setRawValue(ByteString.copyFromUtf8("new")))
        .setAppend(BoolValue.of(true)).build();
    try (TestEnvoy envoy = envoy(ExternalProcessor.newBuilder(), onRequestHeaders(headers(HeaderMutation.newBuilder()
        .addSetHeaders(set("x-go", "1")).addSetHeaders(appendAction).addSetHeaders(appendFlag), true)))) {
      envoy.send(ExchangeRequest.post("/v1/chat/completions", "{}", "x-a", "old", "x-b", "old"));
      assertEquals(List.of("new"), upstream.last().headers().getAll("x-a"));
      assertEquals(List.of("old", "new"), upstream.last().headers().getAll("x-b"));
    }
  }

  @Test
  void removingEnvoyHeadersIsRefusedAndCounted() throws Exception {
    try (TestEnvoy envoy = envoy(ExternalProcessor.newBuilder(), onRequestHeaders(headers(HeaderMutation.newBuilder()
        .addSetHeaders(set("x-go", "1")).addRemoveHeaders("x-envoy-original-path"), true)))) {
      envoy.send(ExchangeRequest.post("/v1/chat/completions", "{}", "x-envoy-original-path", "/kept"));
      assertEquals("/kept", upstream.last().header("x-envoy-original-path"));
      assertEquals(1, envoy.stats().rejectedHeaderMutations.get());
    }
  }

  @Test
  void anInvalidHeaderValueFailsTheExchangeWith500() throws Exception {
    try (TestEnvoy envoy = envoy(ExternalProcessor.newBuilder().setFailureModeAllow(true), onRequestHeaders(
        headers(HeaderMutation.newBuilder().addSetHeaders(set("x-go", "1")).addSetHeaders(set("x-bad", "a\r\nb")),
            true)))) {
      ExchangeResponse r = envoy.send(CHAT);
      assertEquals(500, r.status(), "even with failure_mode_allow: " + r.trace());
      assertTrue(upstream.received().isEmpty());
    }
  }

  @Test
  void clearRouteCacheActsOnlyWhenTheSameAnswerCarriesAHeaderMutation() throws Exception {
    ProcessingMode bufferedRequest = ProcessingMode.newBuilder().setRequestBodyMode(ProcessingMode.BodySendMode.BUFFERED).build();
    Function<ProcessingRequest, ProcessingResponse> bareClear = r -> {
      if (r.hasRequestHeaders()) {
        return headers(HeaderMutation.newBuilder().addSetHeaders(set("x-go", "1")), false);
      }
      if (r.hasRequestBody()) {
        return ProcessingResponse.newBuilder().setRequestBody(BodyResponse.newBuilder().setResponse(
            CommonResponse.newBuilder().setClearRouteCache(true))).build();
      }
      return cont(r);
    };
    try (TestEnvoy envoy = envoy(ExternalProcessor.newBuilder().setProcessingMode(bufferedRequest), bareClear)) {
      assertEquals(404, envoy.send(CHAT).status(), "clear_route_cache alone is ignored");
    }
    stop();
    Function<ProcessingRequest, ProcessingResponse> clearWithMutation = r -> r.hasRequestBody()
        ? ProcessingResponse.newBuilder().setRequestBody(BodyResponse.newBuilder().setResponse(
            CommonResponse.newBuilder().setClearRouteCache(true)
                .setHeaderMutation(HeaderMutation.newBuilder().addSetHeaders(set("x-other", "1"))))).build()
        : bareClear.apply(r);
    try (TestEnvoy envoy = envoy(ExternalProcessor.newBuilder().setProcessingMode(bufferedRequest), clearWithMutation)) {
      assertEquals(200, envoy.send(CHAT).status(), "with a header mutation the route is picked again");
    }
  }

  @Test
  void allowedOverrideModesAreComparedIgnoringRequestHeaderMode() throws Exception {
    Function<ProcessingRequest, ProcessingResponse> streamIt = r -> {
      if (r.hasRequestHeaders()) {
        return headers(HeaderMutation.newBuilder().addSetHeaders(set("x-go", "1")), true);
      }
      if (r.hasResponseHeaders()) {
        return cont(r).toBuilder().setModeOverride(ProcessingMode.newBuilder()
            .setRequestHeaderMode(ProcessingMode.HeaderSendMode.SKIP)
            .setResponseBodyMode(ProcessingMode.BodySendMode.STREAMED)).build();
      }
      return cont(r);
    };
    ProcessingMode buffered = ProcessingMode.newBuilder().setResponseBodyMode(ProcessingMode.BodySendMode.BUFFERED).build();
    try (TestEnvoy envoy = envoy(ExternalProcessor.newBuilder().setProcessingMode(buffered).setAllowModeOverride(true)
        .addAllowedOverrideModes(ProcessingMode.newBuilder().setRequestHeaderMode(ProcessingMode.HeaderSendMode.SEND)
            .setResponseBodyMode(ProcessingMode.BodySendMode.STREAMED)), streamIt)) {
      envoy.send(CHAT);
      assertEquals(0, envoy.stats().ignoredModeOverrides.get());
      assertTrue(seen.stream().filter(ProcessingRequest::hasResponseBody).count() >= 2, "streamed");
    }
  }
}
