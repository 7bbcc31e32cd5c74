package dev.weir.testkit;

import io.envoyproxy.envoy.service.ext_proc.v3.ExternalProcessorGrpc;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * One ext_proc gRPC stream, driven synchronously the way Envoy's filter drives it: send a message,
 * wait for its answer up to the message timeout. The server may also end the stream at any time
 * (cleanly: "continue without me"; with an error: a failure).
 */
final class ExtProcStream implements AutoCloseable {
  /** What waiting for an answer produced. */
  sealed interface Event permits Answer, Closed, Failed, TimedOut {}

  record Answer(ProcessingResponse response) implements Event {}

  record Closed() implements Event {}

  record Failed(Status status) implements Event {}

  record TimedOut() implements Event {}

  private final LinkedBlockingQueue<Event> events = new LinkedBlockingQueue<>();
  private final StreamObserver<ProcessingRequest> requests;
  private volatile boolean ended;
  private boolean halfClosed;

  ExtProcStream(Channel channel, Map<String, String> initialMetadata) {
    Metadata metadata = new Metadata();
    initialMetadata.forEach((k, v) -> metadata.put(Metadata.Key.of(k, Metadata.ASCII_STRING_MARSHALLER), v));
    Channel withMetadata = ClientInterceptors.intercept(channel,
        MetadataUtils.newAttachHeadersInterceptor(metadata));
    requests = ExternalProcessorGrpc.newStub(withMetadata).process(new StreamObserver<>() {
      @Override
      public void onNext(ProcessingResponse value) {
        events.add(new Answer(value));
      }

      @Override
      public void onError(Throwable t) {
        ended = true;
        events.add(new Failed(Status.fromThrowable(t)));
      }

      @Override
      public void onCompleted() {
        ended = true;
        events.add(new Closed());
      }
    });
  }

  boolean ended() {
    return ended;
  }

  Event exchange(ProcessingRequest request, Duration timeout) {
    if (ended) {
      Event e = events.poll();
      return e != null ? e : new Closed();
    }
    requests.onNext(request);
    try {
      Event e = events.poll(timeout.toNanos(), TimeUnit.NANOSECONDS);
      return e == null ? new TimedOut() : e;
    } catch (InterruptedException ie) {
      Thread.currentThread().interrupt();
      return new TimedOut();
    }
  }

  /** Envoy half-closes after the last phase it sends; a timed-out or failed stream is cancelled. */
  void finish(boolean cancel) {
    if (halfClosed || ended) {
      return;
    }
    halfClosed = true;
    if (cancel) {
      requests.onError(Status.CANCELLED.withDescription("envoy cancelled").asRuntimeException());
    } else {
      requests.onCompleted();
    }
  }

  @Override
  public void close() {
    finish(false);
  }
}
