package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.weir.config.ApiKeys;
import dev.weir.extproc.tokens.TokenCounter;
import dev.weir.testkit.ExchangeResponse;
import dev.weir.testkit.ScriptedUpstream;
import io.envoyproxy.envoy.config.core.v3.HeaderMap;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.service.ext_proc.v3.ExternalProcessorGrpc;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A client that disconnects mid-stream is charged for what was streamed; one that leaves before
 * any answer is charged nothing. Envoy cancels the ext_proc stream when the downstream resets;
 * this test plays that sequence on the router pass by hand.
 */
class ClientDisconnectTest {
  static final long TPM = 100_000;
  static final String BODY = "{\"model\":\"gpt-4o\",\"stream\":true,\"max_tokens\":1000,"
      + "\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a story\"}]}";
  static final String NEXT = "{\"model\":\"gpt-4o\",\"max_tokens\":1000,\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a story\"}]}";

  ScriptedUpstream upstream;
  Gateway gw;
  ManagedChannel channel;

  @BeforeEach
  void start() throws Exception {
    upstream = new ScriptedUpstream("up");
    gw = new Gateway("""
        backends: [ { name: local, provider: openai-compatible, url: UPSTREAM } ]
        pools: [ { name: p, members: [ { backend: local } ] } ]
        models: [ { name: gpt-4o, pool: p } ]
        limits: [ { name: tpm, tokensPerMinute: %d } ]
        consumers: [ { name: c, keys: [ "%s" ], models: [ "*" ], limits: [ tpm ] } ]
        """.formatted(TPM, ApiKeys.hash("sk-c")), upstream);
    channel = ManagedChannelBuilder.forAddress("127.0.0.1", gw.server.grpcPort()).usePlaintext().build();
  }

  @AfterEach
  void stop() {
    channel.shutdownNow();
    gw.close();
    upstream.close();
  }

  private static HeaderMap headers(String... kv) {
    HeaderMap.Builder b = HeaderMap.newBuilder();
    for (int i = 0; i < kv.length; i += 2) {
      b.addHeaders(HeaderValue.newBuilder().setKey(kv[i]).setRawValue(ByteString.copyFromUtf8(kv[i + 1])));
    }
    return b.build();
  }

  /** Runs the router pass up to (and optionally through) one streamed chunk, then cancels. */
  private void exchangeThenDisconnect(String streamedChunk) throws Exception {
    LinkedBlockingQueue<ProcessingResponse> answers = new LinkedBlockingQueue<>();
    StreamObserver<ProcessingRequest> stream = ExternalProcessorGrpc.newStub(channel).process(new StreamObserver<>() {
      public void onNext(ProcessingResponse r) { answers.add(r); }
      public void onError(Throwable t) {}
      public void onCompleted() {}
    });
    stream.onNext(ProcessingRequest.newBuilder().setRequestHeaders(HttpHeaders.newBuilder().setHeaders(headers(
        ":method", "POST", ":path", "/v1/chat/completions", "authorization", "Bearer sk-c",
        "content-type", "application/json"))).build());
    assertTrue(answers.poll(5, TimeUnit.SECONDS).hasRequestHeaders());
    stream.onNext(ProcessingRequest.newBuilder().setRequestBody(HttpBody.newBuilder()
        .setBody(ByteString.copyFromUtf8(BODY)).setEndOfStream(true)).build());
    assertTrue(answers.poll(5, TimeUnit.SECONDS).hasRequestBody());
    if (streamedChunk != null) {
      stream.onNext(ProcessingRequest.newBuilder().setResponseHeaders(HttpHeaders.newBuilder().setHeaders(headers(
          ":status", "200", "content-type", "text/event-stream"))).build());
      assertTrue(answers.poll(5, TimeUnit.SECONDS).hasModeOverride(), "switched to streamed");
      stream.onNext(ProcessingRequest.newBuilder().setResponseBody(HttpBody.newBuilder()
          .setBody(ByteString.copyFromUtf8(streamedChunk))).build());
      assertTrue(answers.poll(5, TimeUnit.SECONDS).hasResponseBody());
    }
    stream.onError(Status.CANCELLED.withDescription("downstream reset").asRuntimeException());
  }

  /** Tokens charged so far, read from the room a fresh request is told it leaves. */
  private long chargedBefore(long expected) throws Exception {
    long charged = -1;
    for (int i = 0; i < 50; i++) {
      ExchangeResponse r = gw.chat("sk-c", NEXT);
      long reserved = Long.parseLong(r.header("x-weir-tokens-reserved"));
      long remaining = Long.parseLong(r.header("x-ratelimit-remaining-tokens"));
      // Every probe is settled at the scripted usage (17), so subtract what earlier probes used.
      charged = TPM - remaining - reserved - 17L * i;
      if (charged == expected) {
        return charged;
      }
      Thread.sleep(50);
    }
    return charged;
  }

  @Test
  void disconnectMidStreamChargesThePromptAndWhatWasStreamed() throws Exception {
    String chunk = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Once upon a time\"}}]}\n\n"
        + "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there was a gateway\"}}]}\n\ndata: {\"cho";
    exchangeThenDisconnect(chunk);
    TokenCounter counter = new TokenCounter(Map.of(), 765);
    long streamed = counter.count("gpt-4o", "Once upon a time there was a gateway");
    long prompt = 3 + 3 + counter.count("gpt-4o", "user") + counter.count("gpt-4o", "Tell me a story");
    assertEquals(prompt + streamed, chargedBefore(prompt + streamed),
        "charged the prompt estimate and the streamed text, not the 1000-token reservation");
    assertTrue(gw.metricsContaining("outcome=\"client_closed\"").contains("outcome=\"client_closed\""),
        "audited as client_closed");
  }

  @Test
  void disconnectBeforeAnyAnswerChargesNothing() throws Exception {
    exchangeThenDisconnect(null);
    assertEquals(0, chargedBefore(0), "the reservation was given back");
  }
}
