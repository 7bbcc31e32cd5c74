package dev.weir.testkit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import com.google.protobuf.UInt32Value;
import com.google.protobuf.util.Durations;
import io.envoyproxy.envoy.config.core.v3.GrpcService;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.envoyproxy.envoy.config.route.v3.RetryPolicy;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode;
import io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.CommonResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ExternalProcessorGrpc;
import io.envoyproxy.envoy.service.ext_proc.v3.HeaderMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The router's retries and timers behave as Envoy 1.34's router.cc and retry_state_impl.cc. */
class RouterRetryTest {
  private static final String SHIPPED_RETRY_ON = "connect-failure,reset,retriable-status-codes";
  private static final ExchangeRequest CHAT = ExchangeRequest.post("/v1/chat/completions",
      "{\"model\":\"client-model\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
  private final ScriptedUpstream a = upstream("a");
  private final ScriptedUpstream b = upstream("b");
  private Server extProc;

  private static ScriptedUpstream upstream(String name) {
    try {
      return new ScriptedUpstream(name);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  @AfterEach
  void stop() {
    a.close();
    b.close();
    if (extProc != null) {
      extProc.shutdownNow();
    }
  }

  private static RetryPolicy.Builder retry(String retryOn) {
    return RetryPolicy.newBuilder().setRetryOn(retryOn).addRetriableStatusCodes(503)
        .setNumRetries(UInt32Value.of(1))
        .setRetryBackOff(RetryPolicy.RetryBackOff.newBuilder().setBaseInterval(Durations.fromMillis(1)))
        .addRetryHostPredicate(RetryPolicy.RetryHostPredicate.newBuilder()
            .setName("envoy.retry_host_predicates.previous_hosts"))
        .setHostSelectionRetryMaxAttempts(5);
  }

  private TestEnvoy twoHosts(RouteAction.Builder action) {
    return Clusters.envoy(Clusters.cluster(List.of(List.of(a, b))), action);
  }

  @Test
  void perTryTimeoutIsRetriedUnderResetAlone() {
    // Each host hangs once: two per-try timeouts, then the third attempt is answered.
    a.enqueue(new ScriptedUpstream.Hang());
    b.enqueue(new ScriptedUpstream.Hang());
    try (TestEnvoy envoy = twoHosts(RouteAction.newBuilder().setRetryPolicy(retry("reset")
        .setNumRetries(UInt32Value.of(2)).setPerTryTimeout(Durations.fromMillis(300))))) {
      ExchangeResponse r = envoy.send(CHAT);
      assertEquals(200, r.status(), r.trace().toString());
      assertEquals(2, envoy.stats().perTryTimeouts.get());
      assertEquals(2, envoy.stats().retries.get());
    }
  }

  @Test
  void perTryIdleTimeoutBeforeHeadersIsRetriedUnderTheShippedPolicy() {
    a.enqueue(new ScriptedUpstream.Hang());
    b.enqueue(new ScriptedUpstream.Hang());
    try (TestEnvoy envoy = twoHosts(RouteAction.newBuilder().setRetryPolicy(retry(SHIPPED_RETRY_ON)
        .setNumRetries(UInt32Value.of(2)).setPerTryIdleTimeout(Durations.fromMillis(300))))) {
      ExchangeResponse r = envoy.send(CHAT);
      assertEquals(200, r.status(), r.trace().toString());
      assertTrue(r.trace().stream().anyMatch(t -> t.contains("retry (reset)")), r.trace().toString());
    }
  }

  @Test
  void perTryTimeoutWithRetriableStatusCodesAloneIsNotRetried() {
    a.enqueue(new ScriptedUpstream.Hang());
    b.enqueue(new ScriptedUpstream.Hang());
    try (TestEnvoy envoy = twoHosts(RouteAction.newBuilder().setRetryPolicy(retry("retriable-status-codes")
        .setPerTryTimeout(Durations.fromMillis(200))))) {
      ExchangeResponse r = envoy.send(CHAT);
      assertEquals(504, r.status(), r.trace().toString());
      assertEquals(1, envoy.stats().upstreamRequests.get());
    }
  }

  @Test
  void perTryTimeoutStopsOnceTheResponseHasStarted() {
    List<String> chunks = ScriptedUpstream.chatChunks("m", "one two three four", false);
    a.fallback(new ScriptedUpstream.Sse(chunks, Duration.ofMillis(150)));
    b.fallback(new ScriptedUpstream.Sse(chunks, Duration.ofMillis(150)));
    try (TestEnvoy envoy = twoHosts(RouteAction.newBuilder().setRetryPolicy(retry(SHIPPED_RETRY_ON)
        .setPerTryTimeout(Durations.fromMillis(300))))) {
      ExchangeResponse r = envoy.send(CHAT);
      assertNull(r.resetReason(), "streamed past the per-try timeout: " + r.trace());
      assertEquals(String.join("", chunks), r.bodyText());
    }
  }

  @Test
  void perTryIdleTimeoutKeepsRunningWhileTheResponseStreams() {
    List<String> chunks = ScriptedUpstream.chatChunks("m", "one two", false);
    a.fallback(new ScriptedUpstream.Sse(chunks, Duration.ofMillis(600)));
    b.fallback(new ScriptedUpstream.Sse(chunks, Duration.ofMillis(600)));
    try (TestEnvoy envoy = twoHosts(RouteAction.newBuilder().setRetryPolicy(retry(SHIPPED_RETRY_ON)
        .setPerTryIdleTimeout(Durations.fromMillis(250))))) {
      ExchangeResponse r = envoy.send(CHAT);
      assertEquals(200, r.status());
      assertNotNull(r.resetReason(), "a stream silent for longer than the idle timeout is reset: " + r.trace());
      assertEquals(1, envoy.stats().upstreamRequests.get(), "never retried once the response started");
    }
  }

  @Test
  void routeTimeoutCoversTheWholeResponse() {
    List<String> chunks = ScriptedUpstream.chatChunks("m", "one two three four five six", false);
    try (TestEnvoy envoy = twoHosts(RouteAction.newBuilder().setTimeout(Durations.fromMillis(400)))) {
      envoy.send(CHAT); // warms the JVM up, so the first response headers come well within the timeout
      a.fallback(new ScriptedUpstream.Sse(chunks, Duration.ofMillis(150)));
      b.fallback(new ScriptedUpstream.Sse(chunks, Duration.ofMillis(150)));
      ExchangeResponse r = envoy.send(CHAT);
      assertNotNull(r.resetReason(), "cut mid-stream: " + r.trace());
      assertTrue(r.bodyText().length() < String.join("", chunks).length());
    }
  }

  @Test
  void routeTimeoutIsNotRetried() {
    a.enqueue(new ScriptedUpstream.Hang());
    b.enqueue(new ScriptedUpstream.Hang());
    try (TestEnvoy envoy = twoHosts(RouteAction.newBuilder().setTimeout(Durations.fromMillis(300))
        .setRetryPolicy(retry("5xx,reset")))) {
      ExchangeResponse r = envoy.send(CHAT);
      assertEquals(504, r.status());
      assertEquals(1, envoy.stats().upstreamRequests.get(), r.trace().toString());
    }
  }

  @Test
  void aCutConnectionBeforeHeadersIsRetriedUnderReset() {
    a.enqueue(new ScriptedUpstream.Drop());
    b.enqueue(new ScriptedUpstream.Drop());
    try (TestEnvoy envoy = twoHosts(RouteAction.newBuilder().setRetryPolicy(retry("reset")
        .setNumRetries(UInt32Value.of(2))))) {
      ExchangeResponse r = envoy.send(CHAT);
      assertEquals(200, r.status(), r.trace().toString());
    }
  }

  @Test
  void theClustersConnectTimeoutIsUsed() {
    UpstreamCluster cluster = new UpstreamCluster(Clusters.cluster(List.of(List.of(a)))
        .setConnectTimeout(Durations.fromMillis(250)).build(), null, java.util.Set.of(), new EnvoyStats());
    assertEquals(Duration.ofMillis(250), cluster.connectTimeout());
    UpstreamCluster defaulted = new UpstreamCluster(Clusters.cluster(List.of(List.of(a))).build(), null,
        java.util.Set.of(), new EnvoyStats());
    assertEquals(Duration.ofSeconds(5), defaulted.connectTimeout(), "cluster.proto's default");
  }

  /**
   * A listener whose accept queue is full drops new SYNs, so connecting to it hangs: the cluster's
   * connect_timeout ends the attempt as a connection failure, retried under connect-failure.
   */
  @Test
  void theClustersConnectTimeoutEndsAnAttemptThatCannotConnect() throws Exception {
    try (java.net.ServerSocket full = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      List<java.net.Socket> queued = new java.util.ArrayList<>();
      try {
        for (int i = 0; i < 8; i++) { // fill the accept queue; later connects are left unanswered
          java.net.Socket s = new java.net.Socket();
          try {
            s.connect(full.getLocalSocketAddress(), 200);
            queued.add(s);
          } catch (java.net.SocketTimeoutException e) {
            s.close();
            break;
          }
        }
        var cluster = io.envoyproxy.envoy.config.cluster.v3.Cluster.newBuilder().setName("c")
            .setConnectTimeout(Durations.fromMillis(300))
            .setLoadAssignment(io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment.newBuilder()
                .setClusterName("c").addEndpoints(io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints
                    .newBuilder().addLbEndpoints(Clusters.endpoint(full.getLocalPort())))
                .addEndpoints(io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints.newBuilder().setPriority(1)
                    .addLbEndpoints(Clusters.endpoint(a.port()))));
        // The unreachable host is the only one at priority 0, so the first attempt goes there and
        // previous_priorities sends the retry to priority 1.
        try (TestEnvoy envoy = Clusters.envoy(cluster, RouteAction.newBuilder().setRetryPolicy(retry("connect-failure")
            .setNumRetries(UInt32Value.of(2)).setRetryPriority(RetryPolicy.RetryPriority.newBuilder()
                .setName("envoy.retry_priorities.previous_priorities").setTypedConfig(Any.pack(
                    io.envoyproxy.envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig
                        .newBuilder().setUpdateFrequency(1).build())))))) {
          ExchangeResponse r = envoy.send(CHAT);
          assertEquals(200, r.status(), r.trace().toString());
          assertTrue(r.trace().stream().anyMatch(t -> t.contains("connect_timeout 300 ms")), r.trace().toString());
        }
      } finally {
        for (java.net.Socket s : queued) {
          s.close();
        }
      }
    }
  }

  /**
   * The upstream filter rewrites the body and its content-length on the first attempt; on the
   * retry it asks for no body. Envoy sends the router's original body with the headers the first
   * attempt left, so the backend reads the stale content-length's worth of the original body.
   */
  @Test
  void retriesResendTheOriginalBodyWithThePreviousAttemptsMutatedHeaders() throws Exception {
    byte[] rewritten = "{\"model\":\"x\"}".getBytes(StandardCharsets.UTF_8);
    AtomicInteger attempt = new AtomicInteger();
    extProc = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
        .addService(new ExternalProcessorGrpc.ExternalProcessorImplBase() {
          @Override
          public StreamObserver<ProcessingRequest> process(StreamObserver<ProcessingResponse> out) {
            int n = attempt.incrementAndGet();
            return new StreamObserver<>() {
              public void onNext(ProcessingRequest r) {
                if (r.hasRequestHeaders() && n == 1) {
                  out.onNext(ProcessingResponse.newBuilder().setRequestHeaders(HeadersResponse.getDefaultInstance()).build());
                } else if (r.hasRequestHeaders()) {
                  out.onNext(ProcessingResponse.newBuilder().setRequestHeaders(HeadersResponse.getDefaultInstance())
                      .setModeOverride(ProcessingMode.newBuilder().setRequestBodyMode(ProcessingMode.BodySendMode.NONE))
                      .build());
                } else if (r.hasRequestBody()) {
                  out.onNext(ProcessingResponse.newBuilder().setRequestBody(BodyResponse.newBuilder().setResponse(
                      CommonResponse.newBuilder()
                          .setHeaderMutation(HeaderMutation.newBuilder().addSetHeaders(HeaderValueOption.newBuilder()
                              .setHeader(HeaderValue.newBuilder().setKey("content-length")
                                  .setRawValue(ByteString.copyFromUtf8(Integer.toString(rewritten.length))))))
                          .setBodyMutation(BodyMutation.newBuilder().setBody(ByteString.copyFrom(rewritten))))).build());
                }
              }

              public void onError(Throwable t) {}

              public void onCompleted() {
                out.onCompleted();
              }
            };
          }
        }).build().start();
    ExternalProcessor filter = ExternalProcessor.newBuilder()
        .setGrpcService(GrpcService.newBuilder().setEnvoyGrpc(GrpcService.EnvoyGrpc.newBuilder().setClusterName("x")))
        .setProcessingMode(ProcessingMode.newBuilder().setRequestBodyMode(ProcessingMode.BodySendMode.BUFFERED)
            .setResponseHeaderMode(ProcessingMode.HeaderSendMode.SKIP))
        .setAllowModeOverride(true).setMessageTimeout(Durations.fromSeconds(5)).build();
    var cluster = Clusters.cluster(List.of(List.of(a))).putTypedExtensionProtocolOptions(
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions", Any.pack(HttpProtocolOptions.newBuilder()
            .addHttpFilters(HttpFilter.newBuilder().setName("envoy.filters.http.ext_proc").setTypedConfig(Any.pack(filter)))
            .build()));
    a.enqueue(ScriptedUpstream.status(503));
    try (TestEnvoy envoy = TestEnvoy.builder().extProc("127.0.0.1", extProc.getPort())
        .routes(Clusters.route(RouteAction.newBuilder().setRetryPolicy(RetryPolicy.newBuilder()
            .setRetryOn("retriable-status-codes").addRetriableStatusCodes(503))))
        .cluster(cluster.build()).build()) {
      envoy.send(CHAT);
      List<ScriptedUpstream.Recorded> got = a.received();
      assertEquals(2, got.size());
      assertArrayEquals(rewritten, got.get(0).body(), "first attempt: the rewritten body");
      assertEquals(Integer.toString(rewritten.length), got.get(1).header("content-length"), "the header stays");
      assertArrayEquals(Arrays.copyOf(CHAT.body(), rewritten.length), got.get(1).body(),
          "the retry carries the original body, read up to the stale length");
    }
  }
  /**
   * Two levels, both failing, three retries with previous_priorities: level 0, level 1, then
   * every level was tried so the plugin starts over (level 0 by health), and the fourth attempt
   * avoids only the level tried since the reset.
   */
  @Test
  void previousPrioritiesStartsOverOnceEveryLevelWasTried() {
    a.fallback(ScriptedUpstream.status(503));
    b.fallback(ScriptedUpstream.status(503));
    RetryPolicy.Builder policy = RetryPolicy.newBuilder().setRetryOn("retriable-status-codes").addRetriableStatusCodes(503)
        .setNumRetries(UInt32Value.of(3))
        .setRetryBackOff(RetryPolicy.RetryBackOff.newBuilder().setBaseInterval(Durations.fromMillis(1)))
        .setRetryPriority(RetryPolicy.RetryPriority.newBuilder().setName("envoy.retry_priorities.previous_priorities")
            .setTypedConfig(Any.pack(io.envoyproxy.envoy.extensions.retry.priority.previous_priorities.v3
                .PreviousPrioritiesConfig.newBuilder().setUpdateFrequency(1).build())));
    try (TestEnvoy envoy = Clusters.envoy(Clusters.cluster(List.of(List.of(a), List.of(b))),
        RouteAction.newBuilder().setRetryPolicy(policy))) {
      ExchangeResponse r = envoy.send(CHAT);
      assertEquals(503, r.status());
      assertEquals(2, a.received().size(), r.trace().toString());
      assertEquals(2, b.received().size(), r.trace().toString());
    }
  }

  /**
   * A ring-hash pool whose endpoints hash as "h1" and "h2" (envoy.lb hash_key), so the ring is
   * fixed: "session-2" sits on h1 and the next ring entry is h2's; "session-8" has h1 on the next
   * entry too. With host_selection_retry_max_attempts unset the retry makes 1 + 1 picks (attempt
   * 0 and 1 of Ring::chooseHost), then keeps the last pick.
   */
  @Test
  void aRetryMakesTwoPicksByDefaultAndKeepsTheLastWhenBothAreRejected() {
    var cla = io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment.newBuilder().setClusterName("c")
        .addEndpoints(io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints.newBuilder()
            .addLbEndpoints(keyed(a, "h1")).addLbEndpoints(keyed(b, "h2")));
    var cluster = io.envoyproxy.envoy.config.cluster.v3.Cluster.newBuilder().setName("c")
        .setLbPolicy(io.envoyproxy.envoy.config.cluster.v3.Cluster.LbPolicy.RING_HASH).setLoadAssignment(cla);
    RouteAction.Builder action = RouteAction.newBuilder().setRetryPolicy(retry("retriable-status-codes")
        .clearHostSelectionRetryMaxAttempts()).addHashPolicy(RouteAction.HashPolicy.newBuilder()
        .setHeader(RouteAction.HashPolicy.Header.newBuilder().setHeaderName("x-session")));
    a.fallback(ScriptedUpstream.status(503));
    try (TestEnvoy envoy = Clusters.envoy(cluster, action)) {
      ExchangeResponse moved = envoy.send(session("session-2"));
      assertEquals(200, moved.status(), moved.trace().toString());
      assertEquals(1, a.received().size());
      ExchangeResponse stuck = envoy.send(session("session-8"));
      assertEquals(503, stuck.status(), "both picks land on h1: the last one is kept " + stuck.trace());
      assertEquals(3, a.received().size());
    }
  }

  private static ExchangeRequest session(String id) {
    return ExchangeRequest.post("/v1/chat/completions", new String(CHAT.body(), StandardCharsets.UTF_8), "x-session", id);
  }

  private static io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint keyed(ScriptedUpstream u, String hashKey) {
    return Clusters.endpoint(u.port()).toBuilder().setMetadata(io.envoyproxy.envoy.config.core.v3.Metadata.newBuilder()
        .putFilterMetadata("envoy.lb", com.google.protobuf.Struct.newBuilder().putFields("hash_key",
            com.google.protobuf.Value.newBuilder().setStringValue(hashKey).build()).build())).build();
  }
}
