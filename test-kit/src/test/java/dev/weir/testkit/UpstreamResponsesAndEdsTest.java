package dev.weir.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Any;
import com.google.protobuf.UInt32Value;
import com.google.protobuf.util.Durations;
import io.envoyproxy.envoy.config.core.v3.GrpcService;
import io.envoyproxy.envoy.config.core.v3.HealthStatus;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.route.v3.RetryPolicy;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.envoyproxy.envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig;
import io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
import io.envoyproxy.envoy.service.ext_proc.v3.ExternalProcessorGrpc;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The cluster's upstream ext_proc filter sees each attempt's response headers before the router
 * decides on a retry, one stream per attempt; and an EDS update's health status moves traffic
 * between priority levels without rebuilding the cluster.
 */
class UpstreamResponsesAndEdsTest {
  private static final ExchangeRequest CHAT = ExchangeRequest.post("/v1/chat/completions", "{\"model\":\"m\"}");
  private ScriptedUpstream ptu;
  private ScriptedUpstream paygo;
  private Server extProc;
  private final List<String> responses = new CopyOnWriteArrayList<>();
  private final AtomicInteger streams = new AtomicInteger();

  @BeforeEach
  void start() throws Exception {
    ptu = new ScriptedUpstream("ptu");
    paygo = new ScriptedUpstream("paygo");
    extProc = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
        .addService(new ExternalProcessorGrpc.ExternalProcessorImplBase() {
          @Override
          public StreamObserver<ProcessingRequest> process(StreamObserver<ProcessingResponse> out) {
            int stream = streams.incrementAndGet();
            return new StreamObserver<>() {
              public void onNext(ProcessingRequest r) {
                if (r.hasRequestHeaders()) {
                  out.onNext(ProcessingResponse.newBuilder().setRequestHeaders(HeadersResponse.getDefaultInstance()).build());
                } else if (r.hasResponseHeaders()) {
                  String status = r.getResponseHeaders().getHeaders().getHeadersList().stream()
                      .filter(h -> h.getKey().equals(":status")).map(h -> h.getRawValue().toStringUtf8())
                      .findFirst().orElse("?");
                  responses.add("stream " + stream + ": " + status);
                  out.onNext(ProcessingResponse.newBuilder().setResponseHeaders(HeadersResponse.getDefaultInstance()).build());
                }
              }

              public void onError(Throwable t) {}

              public void onCompleted() {
                out.onCompleted();
              }
            };
          }
        }).build().start();
  }

  @AfterEach
  void stop() {
    extProc.shutdownNow();
    ptu.close();
    paygo.close();
  }

  private TestEnvoy envoy(boolean edsCluster) {
    ExternalProcessor filter = ExternalProcessor.newBuilder()
        .setGrpcService(GrpcService.newBuilder().setEnvoyGrpc(GrpcService.EnvoyGrpc.newBuilder().setClusterName("x")))
        .setProcessingMode(ProcessingMode.newBuilder().setResponseHeaderMode(ProcessingMode.HeaderSendMode.SEND))
        .setMessageTimeout(Durations.fromSeconds(5)).build();
    var cluster = Clusters.cluster(List.of(List.of(ptu), List.of(paygo))).putTypedExtensionProtocolOptions(
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions", Any.pack(HttpProtocolOptions.newBuilder()
            .addHttpFilters(HttpFilter.newBuilder().setName("envoy.filters.http.ext_proc").setTypedConfig(Any.pack(filter)))
            .build()));
    TestEnvoy.Builder b = TestEnvoy.builder().extProc("127.0.0.1", extProc.getPort())
        .routes(Clusters.route(RouteAction.newBuilder().setRetryPolicy(RetryPolicy.newBuilder()
            .setRetryOn("retriable-status-codes").addRetriableStatusCodes(429).setNumRetries(UInt32Value.of(1))
            .setRetryPriority(RetryPolicy.RetryPriority.newBuilder().setName("envoy.retry_priorities.previous_priorities")
                .setTypedConfig(Any.pack(PreviousPrioritiesConfig.newBuilder().setUpdateFrequency(1).build()))))));
    if (edsCluster) {
      ClusterLoadAssignment cla = cluster.getLoadAssignment();
      cluster.clearLoadAssignment().setType(io.envoyproxy.envoy.config.cluster.v3.Cluster.DiscoveryType.EDS);
      b.cluster(cluster.build()).endpoints(cla);
    } else {
      b.cluster(cluster.build());
    }
    return b.build();
  }

  @Test
  void theUpstreamFilterSeesEveryAttemptsResponseHeadersTheRetriedOneIncluded() {
    ptu.enqueue(ScriptedUpstream.tooManyRequests(20));
    try (TestEnvoy envoy = envoy(false)) {
      ExchangeResponse r = envoy.send(CHAT);
      assertEquals(200, r.status(), r.trace().toString());
      assertEquals(List.of("stream 1: 429", "stream 2: 200"), responses, "one stream per attempt, each its own answer");
      int sawFirst = r.trace().indexOf("upstream: response_headers");
      int retried = r.trace().stream().filter(t -> t.startsWith("envoy: retry")).findFirst()
          .map(r.trace()::indexOf).orElse(-1);
      assertTrue(sawFirst >= 0 && sawFirst < retried, "the 429 reached the filter before the retry decision: " + r.trace());
    }
  }

  @Test
  void anEdsUpdateMarkingTheOnlyHostOfLevelZeroUnhealthySendsEveryRequestToLevelOneAndBack() {
    try (TestEnvoy envoy = envoy(true)) {
      envoy.send(CHAT);
      assertEquals(1, ptu.received().size());
      ClusterLoadAssignment healthy = Clusters.cluster(List.of(List.of(ptu), List.of(paygo))).getLoadAssignment();
      ClusterLoadAssignment.Builder tripped = healthy.toBuilder();
      tripped.getEndpointsBuilder(0).getLbEndpointsBuilder(0).setHealthStatus(HealthStatus.UNHEALTHY);
      envoy.updateEndpoints(tripped.build());
      for (int i = 0; i < 10; i++) {
        envoy.send(CHAT);
      }
      assertEquals(1, ptu.received().size(), "level 0 has no healthy host: level 1 takes 100 %, no panic");
      assertEquals(10, paygo.received().size());
      envoy.updateEndpoints(healthy);
      envoy.send(CHAT);
      assertEquals(2, ptu.received().size());
    }
  }
}
