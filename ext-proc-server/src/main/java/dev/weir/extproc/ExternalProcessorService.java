package dev.weir.extproc;

import dev.weir.extproc.openai.ApiError;
import dev.weir.extproc.session.Exchange;
import dev.weir.extproc.session.GatewayHeaders;
import dev.weir.extproc.session.Messages;
import dev.weir.extproc.session.RouterPass;
import dev.weir.extproc.session.UpstreamExchange;
import io.envoyproxy.envoy.service.ext_proc.v3.ExternalProcessorGrpc;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Envoy's ExternalProcessor gRPC service: one stream per exchange per pass. Which pass a stream
 * belongs to comes from the {@code x-weir-pass} gRPC metadata that each filter's
 * {@code grpc_service.initial_metadata} sets ("upstream" for the cluster's filter).
 *
 * <p>This is the one boundary where a bug in a stage becomes a well-formed answer: a request-side
 * failure is answered with a 500 in OpenAI's shape, a response-side one lets the answer through.
 */
public final class ExternalProcessorService extends ExternalProcessorGrpc.ExternalProcessorImplBase {
  private static final Logger log = LoggerFactory.getLogger(ExternalProcessorService.class);
  public static final Metadata.Key<String> PASS_HEADER =
      Metadata.Key.of(dev.weir.config.Wire.PASS_METADATA, Metadata.ASCII_STRING_MARSHALLER);
  static final Context.Key<String> PASS = Context.key("weir-pass");

  private final Supplier<GatewayRuntime> runtime;
  private final AtomicInteger inFlight = new AtomicInteger();

  public ExternalProcessorService(Supplier<GatewayRuntime> runtime) {
    this.runtime = runtime;
  }

  /** Streams open right now (exchanges in flight, per pass). */
  public int inFlight() {
    return inFlight.get();
  }

  /** Puts the pass named in the call's metadata into its gRPC context. */
  public static ServerInterceptor passInterceptor() {
    return new ServerInterceptor() {
      @Override
      public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
          ServerCallHandler<Q, R> next) {
        String pass = headers.get(PASS_HEADER);
        Context ctx = Context.current().withValue(PASS, pass == null ? dev.weir.config.Wire.ROUTER_PASS : pass);
        return Contexts.interceptCall(ctx, call, headers, next);
      }
    };
  }

  @Override
  public StreamObserver<ProcessingRequest> process(StreamObserver<ProcessingResponse> responses) {
    GatewayRuntime gateway = runtime.get();
    Exchange exchange = dev.weir.config.Wire.UPSTREAM_PASS.equals(PASS.get())
        ? new UpstreamExchange(gateway)
        : new RouterPass(gateway);
    inFlight.incrementAndGet();
    ServerCallStreamObserver<ProcessingResponse> call = (ServerCallStreamObserver<ProcessingResponse>) responses;
    return new StreamObserver<>() {
      private boolean ended;

      @Override
      public void onNext(ProcessingRequest request) {
        ProcessingResponse response;
        try {
          response = exchange.handle(request);
        } catch (RuntimeException e) {
          log.error("stage failed on {}; answering without it", request.getRequestCase(), e);
          response = switch (request.getRequestCase()) {
            case REQUEST_HEADERS, REQUEST_BODY, REQUEST_TRAILERS -> Messages.immediate(
                ApiError.internal("The gateway failed to process this request."),
                exchange instanceof UpstreamExchange ? Map.of(GatewayHeaders.LOCAL_REPLY, "error") : Map.of());
            default -> Messages.continueUnchanged(request);
          };
        }
        if (!call.isCancelled()) {
          responses.onNext(response);
        }
      }

      @Override
      public void onError(Throwable t) {
        Status status = Status.fromThrowable(t);
        if (status.getCode() != Status.Code.CANCELLED) {
          log.debug("ext_proc stream ended with {}", status);
        }
        finish(true);
      }

      @Override
      public void onCompleted() {
        finish(false);
        responses.onCompleted();
      }

      private void finish(boolean aborted) {
        if (ended) {
          return;
        }
        ended = true;
        inFlight.decrementAndGet();
        try {
          exchange.end(aborted);
        } catch (RuntimeException e) {
          log.error("recording the exchange failed", e);
        }
      }
    };
  }
}
