package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.envoyproxy.envoy.config.core.v3.HeaderMap;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.service.ext_proc.v3.ExternalProcessorGrpc;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a rolling update does to ext-proc-server (SIGTERM runs {@link ExtProcServer#close}): an
 * exchange in flight is answered to its end, while a new stream is refused with UNAVAILABLE,
 * which the ext_proc filters' retry_policy (retry_on connect-failure, refused-stream,
 * unavailable) sends to another replica instead of failing the client's request.
 */
class DrainOnShutdownTest {
  private static final String CHAT = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

  /** One ext_proc stream, as Envoy's router pass opens it; answers and the end are queued. */
  static final class Stream {
    final LinkedBlockingQueue<Object> events = new LinkedBlockingQueue<>();
    final StreamObserver<ProcessingRequest> requests;

    Stream(ManagedChannel channel) {
      Metadata pass = new Metadata();
      pass.put(Metadata.Key.of(dev.weir.config.Wire.PASS_METADATA, Metadata.ASCII_STRING_MARSHALLER), dev.weir.config.Wire.ROUTER_PASS);
      requests = ExternalProcessorGrpc.newStub(channel).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(pass))
          .process(new StreamObserver<>() {
            @Override
            public void onNext(ProcessingResponse r) {
              events.add(r);
            }

            @Override
            public void onError(Throwable t) {
              events.add(Status.fromThrowable(t));
            }

            @Override
            public void onCompleted() {
              events.add("completed");
            }
          });
    }

    Object next() throws InterruptedException {
      Object e = events.poll(10, TimeUnit.SECONDS);
      return e == null ? "nothing within 10 s" : e;
    }

    void sendHeaders() {
      requests.onNext(ProcessingRequest.newBuilder().setRequestHeaders(HttpHeaders.newBuilder().setHeaders(HeaderMap.newBuilder()
          .addHeaders(h(":method", "POST")).addHeaders(h(":path", "/v1/chat/completions"))
          .addHeaders(h("content-type", "application/json"))
          .addHeaders(h("authorization", "Bearer " + GatewayFixture.FINANCE_KEY)))).build());
    }
  }

  @Test
  void inFlightExchangesFinishWhileNewStreamsAreRefusedForAnotherReplica(@TempDir Path dir) throws Exception {
    try (GatewayFixture gw = new GatewayFixture(dir)) {
      ManagedChannel envoysConnection = ManagedChannelBuilder.forAddress("127.0.0.1", gw.server.grpcPort()).usePlaintext().build();
      try {
        Stream inFlight = new Stream(envoysConnection);
        inFlight.sendHeaders();
        assertTrue(inFlight.next() instanceof ProcessingResponse r && r.hasRequestHeaders());

        CompletableFuture<Void> sigterm = CompletableFuture.runAsync(gw.server::close);
        // Draining: a new stream, on Envoy's existing connection or a new one, is UNAVAILABLE.
        Object refused = "not tried";
        for (int i = 0; i < 100 && !(refused instanceof Status); i++) {
          Thread.sleep(20);
          Stream late = new Stream(envoysConnection);
          late.sendHeaders();
          refused = late.next();
          late.requests.onCompleted();
        }
        assertTrue(refused instanceof Status s && s.getCode() == Status.Code.UNAVAILABLE, String.valueOf(refused));
        ManagedChannel fresh = ManagedChannelBuilder.forAddress("127.0.0.1", gw.server.grpcPort()).usePlaintext().build();
        try {
          Stream onNewConnection = new Stream(fresh);
          onNewConnection.sendHeaders();
          Object answer = onNewConnection.next();
          assertTrue(answer instanceof Status s && s.getCode() == Status.Code.UNAVAILABLE, String.valueOf(answer));
        } finally {
          fresh.shutdownNow();
        }
        assertFalse(sigterm.isDone(), "shutdown waits for the exchange in flight");

        // The exchange in flight goes on to its end: its body is authenticated, routed, answered.
        inFlight.requests.onNext(ProcessingRequest.newBuilder().setRequestBody(HttpBody.newBuilder()
            .setBody(ByteString.copyFromUtf8(CHAT)).setEndOfStream(true)).build());
        Object body = inFlight.next();
        assertTrue(body instanceof ProcessingResponse r && r.hasRequestBody(), String.valueOf(body));
        inFlight.requests.onCompleted();
        assertEquals("completed", inFlight.next());
        sigterm.get(10, TimeUnit.SECONDS);
      } finally {
        envoysConnection.shutdownNow();
      }
    }
  }

  private static HeaderValue h(String k, String v) {
    return HeaderValue.newBuilder().setKey(k).setRawValue(ByteString.copyFromUtf8(v)).build();
  }
}
