package dev.weir.extproc.session;

import com.google.protobuf.ByteString;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import dev.weir.extproc.GatewayRuntime;
import dev.weir.extproc.openai.ApiError;
import dev.weir.extproc.openai.Endpoint;
import dev.weir.extproc.openai.SseParser;
import dev.weir.extproc.pipeline.Decision;
import dev.weir.extproc.pipeline.ExchangeState;
import dev.weir.extproc.pipeline.Mutation;
import dev.weir.extproc.pipeline.Pipeline;
import dev.weir.extproc.pipeline.ResponseChunk;
import dev.weir.extproc.pipeline.Stage;
import dev.weir.extproc.providers.ProviderAdapters;
import dev.weir.extproc.providers.ResponseTranslator;
import dev.weir.extproc.routing.BackendTarget;
import dev.weir.extproc.telemetry.ExchangeRecord;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.CommonResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HeaderMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The router-level pass over one exchange: a small runner that owns the exchange's state, the
 * ext_proc message shapes and the JSON/SSE framing of the answer, and runs the pipeline's stages
 * phase by phase. The stages own every decision (see {@link Pipeline} for their order).
 */
public final class RouterExchange implements Exchange {
  private static final Logger log = LoggerFactory.getLogger(RouterExchange.class);
  private static final ProcessingMode STREAM_RESPONSE_BODY = ProcessingMode.newBuilder()
      .setResponseHeaderMode(ProcessingMode.HeaderSendMode.SEND)
      .setResponseBodyMode(ProcessingMode.BodySendMode.STREAMED)
      .build();
  static final String JWT_NAMESPACE = "envoy.filters.http.jwt_authn";
  static final String ATTEMPT_COUNT = "x-envoy-attempt-count";

  private final ExchangeState state;
  private final Pipeline.Stages stages;
  private SseParser sse;
  private ByteString bufferedResponse = ByteString.EMPTY;
  /** Turns the answering backend's dialect into the client's; null when they are the same. */
  private ResponseTranslator translator;
  /** The stream reached its dialect's closing event (or an error event). */
  private boolean streamEnded;

  public RouterExchange(GatewayRuntime gateway) {
    this(gateway, gateway.pipeline());
  }

  public RouterExchange(GatewayRuntime gateway, Pipeline pipeline) {
    this.state = new ExchangeState(gateway, new ExchangeRecord(System.nanoTime()));
    this.stages = pipeline.newExchange();
  }

  /** What the exchange knows so far (for tests and diagnostics). */
  public ExchangeState state() {
    return state;
  }

  @Override
  public ProcessingResponse handle(ProcessingRequest message) {
    long started = System.nanoTime();
    try {
      return switch (message.getRequestCase()) {
        case REQUEST_HEADERS -> onRequestHeaders(message, message.getRequestHeaders());
        case REQUEST_BODY -> onRequestBody(message.getRequestBody());
        case RESPONSE_HEADERS -> onResponseHeaders(message, message.getResponseHeaders());
        case RESPONSE_BODY -> onResponseBody(message.getResponseBody());
        default -> Messages.continueUnchanged(message);
      };
    } finally {
      // The gateway's own share of the latency: time spent deciding, not waiting for the backend.
      state.record().gatewayTime(System.nanoTime() - started);
    }
  }

  private ProcessingResponse onRequestHeaders(ProcessingRequest message, HttpHeaders headersMessage) {
    Map<String, String> headers = Messages.headers(headersMessage.getHeaders());
    String method = headers.getOrDefault(":method", "");
    String fullPath = headers.getOrDefault(":path", "/");
    int q = fullPath.indexOf('?');
    String path = q < 0 ? fullPath : fullPath.substring(0, q);
    Endpoint endpoint = Endpoint.forPath(path);
    state.record().requestId(headers.get("x-request-id"));
    var span = state.gateway().telemetry().tracing().startExchange(headers, path,
        state.record().startEpochMillis() * 1_000_000L);
    state.span(span);
    if (span.context().isValid()) {
      state.record().trace(span.context().getTraceId(), span.context().getSpanId());
    }
    state.requestHeaders(endpoint, fullPath, headers, headersMessage.getEndOfStream(),
        dev.weir.extproc.limits.ClientAddress.fromSourceAddress(Messages.attribute(message, "source.address")),
        claims(message));
    // Which API this is decides how the exchange is read, so it comes before any stage.
    if (endpoint == null) {
      return answer(Decision.reject(ApiError.notFound("unknown_url", "Invalid URL (" + method + " " + path
          + "). Weir serves POST /v1/chat/completions, POST /v1/completions, POST /v1/embeddings,"
          + " POST /v1/responses, POST /v1/messages and GET /v1/models.")));
    }
    state.record().endpoint(endpoint);
    if (!endpoint.method().equals(method)) {
      return answer(Decision.reject(new ApiError(405, "invalid_request_error", "method_not_allowed",
          "Method " + method + " is not allowed on " + endpoint.path() + "; use " + endpoint.method() + ".")));
    }
    Mutation mutation = new Mutation();
    for (Stage stage : stages.request()) {
      if (stage.onRequestHeaders(state, mutation) instanceof Decision.Answer a) {
        return answer(a);
      }
    }
    // The backend, and the upstream pass's attempt spans, continue this exchange's trace.
    state.span().propagationHeaders().forEach(mutation::setHeader);
    String traceparent = state.span().propagationHeaders().get("traceparent");
    if (traceparent != null) {
      mutation.setHeader(GatewayHeaders.TRACE_PARENT, traceparent);
    }
    return Messages.requestHeaders(common(mutation));
  }

  private ProcessingResponse onRequestBody(HttpBody message) {
    if (state.endpoint() == null || state.caller() == null) {
      return answer(Decision.reject(ApiError.internal("request body arrived before its headers were accepted")));
    }
    state.requestBody(message.getBody().toByteArray());
    Mutation mutation = new Mutation();
    for (Stage stage : stages.request()) {
      String spanName = TRACED.get(stage.name());
      io.opentelemetry.api.trace.Span child = spanName == null ? null : state.span().child(spanName);
      Decision d = stage.onRequestBody(state, mutation);
      if (child != null) {
        endChild(child, stage.name(), d);
      }
      if (d instanceof Decision.Answer a) {
        return answer(a);
      }
    }
    return Messages.requestBody(common(mutation));
  }

  private ProcessingResponse onResponseHeaders(ProcessingRequest message, HttpHeaders headersMessage) {
    Map<String, String> headers = Messages.headers(headersMessage.getHeaders());
    int status = parseStatus(headers.get(":status"));
    boolean local = headers.containsKey(GatewayHeaders.LOCAL_REPLY);
    String backend = Messages.attribute(message, GatewayHeaders.BACKEND_ATTRIBUTE);
    String contentType = headers.getOrDefault("content-type", "");
    // A local reply of the upstream pass is a gateway error in OpenAI's shape; the client's dialect
    // may reshape it.
    translator = local ? state.dialect().localReplyTranslator() : translatorFor(backend);
    boolean streaming = status == 200 && (translator != null ? translator.streams(status, contentType)
        : contentType.startsWith("text/event-stream"));
    state.responseHeaders(status, headers, streaming, local, backend);
    if (!streaming) {
      state.record().firstByte();
    }
    state.record().attempts(local && backend == null ? 0 : attempts(headers.get(ATTEMPT_COUNT)));
    Mutation mutation = new Mutation();
    if (translator != null) {
      // The body will be the client's dialect, of another length: the body answer sets the new
      // Content-Length, which Envoy checks against the mutated body in BUFFERED mode
      // (ProcessorState::handleBodyResponse, "mismatch between content length and the length of
      // the mutated body"); a stream has none.
      mutation.removeHeader("content-length")
          .setHeader("content-type", streaming ? "text/event-stream" : "application/json");
    }
    for (Stage stage : stages.response()) {
      if (stage.onResponseHeaders(state, mutation) instanceof Decision.Answer a) {
        return answer(a);
      }
    }
    if (headersMessage.getEndOfStream()) {
      Decision.Answer a = end(mutation);
      return a != null ? answer(a) : Messages.responseHeaders(common(mutation));
    }
    if (streaming) {
      sse = new SseParser(state.gateway().maxRequestBytes());
      return Messages.responseHeaders(common(mutation), STREAM_RESPONSE_BODY);
    }
    return Messages.responseHeaders(common(mutation));
  }

  private ProcessingResponse onResponseBody(HttpBody message) {
    if (state.streaming()) {
      return onStreamChunk(message);
    }
    bufferedResponse = bufferedResponse.concat(message.getBody());
    if (!message.getEndOfStream()) {
      return Messages.responseBody(CommonResponse.getDefaultInstance());
    }
    Mutation mutation = new Mutation();
    byte[] answer = bufferedResponse.toByteArray();
    if (translator != null) {
      answer = translator.translateBody(state.status(), answer);
      mutation.replaceBody(answer);
    }
    ResponseChunk body = new ResponseChunk(new String(answer, StandardCharsets.UTF_8), false);
    for (Stage stage : stages.response()) {
      if (stage.onResponseChunk(state, body, mutation) instanceof Decision.Answer a) {
        return answer(a);
      }
    }
    if (body.replaced()) {
      mutation.replaceBody(body.data().getBytes(StandardCharsets.UTF_8));
    }
    Decision.Answer a = end(mutation);
    return a != null ? answer(a) : Messages.responseBody(common(mutation));
  }

  private ProcessingResponse onStreamChunk(HttpBody message) {
    state.record().firstByte();
    List<SseParser.Event> events = new ArrayList<>();
    if (translator != null) {
      for (String data : translator.translateStream(message.getBody().toByteArray(), message.getEndOfStream())) {
        events.add(new SseParser.Event(("data: " + data + "\n\n").getBytes(StandardCharsets.UTF_8), data));
      }
    } else {
      events.addAll(sse.feed(message.getBody().toByteArray()));
      if (message.getEndOfStream()) {
        events.addAll(sse.finish());
      }
    }
    Mutation mutation = new Mutation();
    ByteArrayOutputStream passOn = new ByteArrayOutputStream(message.getBody().size());
    for (SseParser.Event event : events) {
      ResponseChunk chunk = new ResponseChunk(event.data(), true);
      if (chunk.data() != null && state.dialect().endsStream(chunk)) {
        streamEnded = true;
      }
      for (Stage stage : stages.response()) {
        if (stage.onResponseChunk(state, chunk, mutation) instanceof Decision.Answer a) {
          return answer(a);
        }
        if (chunk.dropped()) {
          break;
        }
      }
      for (String data : chunk.inserted()) {
        passOn.writeBytes(("data: " + data + "\n\n").getBytes(StandardCharsets.UTF_8));
      }
      if (chunk.replaced() && !chunk.dropped()) {
        passOn.writeBytes(("data: " + chunk.data() + "\n\n").getBytes(StandardCharsets.UTF_8));
      } else if (!chunk.dropped()) {
        passOn.writeBytes(event.raw());
      }
    }
    if (message.getEndOfStream()) {
      if (!streamEnded) {
        // The backend closed its stream cleanly but early. The client must not take the cut
        // answer for a whole one: its SDK raises this error event. (A reset instead of a clean
        // end resets the client's stream too; Envoy gives the filter no chance to add to it.)
        passOn.writeBytes(state.dialect().streamCutEvent().getBytes(StandardCharsets.UTF_8));
        state.record().outcome("stream_interrupted");
      }
      Decision.Answer a = end(mutation);
      if (a != null) {
        return answer(a);
      }
    }
    // Always whole events, as the parser completed them: a partial event waits for the chunk that
    // completes it, so a stage can drop or edit any event, whichever chunks carried its bytes.
    return Messages.responseBody(CommonResponse.newBuilder()
        .setBodyMutation(BodyMutation.newBuilder().setBody(ByteString.copyFrom(passOn.toByteArray()))).build());
  }

  private ResponseTranslator translatorFor(String backendName) {
    BackendTarget backend = backendName == null ? null : state.gateway().routing().backend(backendName);
    if (backend == null || state.request() == null) {
      return null;
    }
    return ProviderAdapters.of(backend.provider()).translator(state.request(), backend);
  }

  /** Request stages that get a child span of the exchange's, and the span's name. */
  private static final Map<String, String> TRACED = Map.of("safety", "weir.safety.prompt", "cache", "weir.cache.lookup",
      "limits", "weir.limits");

  private void endChild(io.opentelemetry.api.trace.Span child, String stage, Decision d) {
    if (!child.isRecording()) {
      return;
    }
    switch (stage) {
      case "cache" -> child.setAttribute("weir.cache", state.record().cache());
      case "limits" -> child.setAttribute("weir.limited_by", state.record().limitedBy());
      default -> child.setAttribute("weir.safety.findings", (long) state.record().safety().size());
    }
    if (d instanceof Decision.Answer a) {
      child.setAttribute("weir.answered", a.outcome());
    }
    child.end();
  }

  /** The answer is complete: the response stages' last word. Returns an answer if one made it. */
  private Decision.Answer end(Mutation mutation) {
    state.responseComplete(true);
    for (Stage stage : stages.response()) {
      if (stage.onResponseEnd(state, mutation) instanceof Decision.Answer a) {
        return a;
      }
    }
    return null;
  }

  @Override
  public void end(boolean aborted) {
    for (Stage stage : stages.response()) {
      try {
        stage.onExchangeEnd(state, aborted);
      } catch (RuntimeException e) {
        log.error("stage {} failed at the end of the exchange", stage.name(), e);
      }
    }
  }

  private ProcessingResponse answer(Decision.Answer a) {
    state.record().firstByte();
    state.record().status(a.status());
    state.record().outcome(a.outcome());
    // Stages write errors in OpenAI's shape; a client of another dialect gets them in its own.
    byte[] body = a.status() >= 400 ? state.dialect().clientError(a.status(), a.body()) : a.body();
    return Messages.immediate(a.status(), body, "weir_" + a.outcome(), a.headers());
  }

  /** Header and body mutations of a phase; a replaced body gets its Content-Length. */
  private static CommonResponse common(Mutation mutation) {
    if (mutation.isEmpty()) {
      return CommonResponse.getDefaultInstance();
    }
    HeaderMutation.Builder headers = HeaderMutation.newBuilder();
    mutation.headersToRemove().forEach(headers::addRemoveHeaders);
    mutation.headersToSet().forEach((k, v) -> headers.addSetHeaders(Messages.set(k, v)));
    CommonResponse.Builder common = CommonResponse.newBuilder();
    if (mutation.body() != null) {
      headers.addSetHeaders(Messages.set("content-length", Integer.toString(mutation.body().length)));
      common.setBodyMutation(BodyMutation.newBuilder().setBody(ByteString.copyFrom(mutation.body())));
    }
    if (mutation.clearsRouteCache()) {
      common.setClearRouteCache(true);
    }
    return common.setHeaderMutation(headers).build();
  }

  /** Claims of a JWT that Envoy's jwt_authn filter verified and forwarded (payload_in_metadata). */
  static Map<String, String> claims(ProcessingRequest message) {
    Struct ns = message.getMetadataContext().getFilterMetadataMap().get(JWT_NAMESPACE);
    if (ns == null) {
      return Map.of();
    }
    Map<String, String> claims = new HashMap<>();
    for (Value payload : ns.getFieldsMap().values()) {
      if (payload.hasStructValue()) {
        payload.getStructValue().getFieldsMap().forEach((k, v) -> {
          switch (v.getKindCase()) {
            case STRING_VALUE -> claims.putIfAbsent(k, v.getStringValue());
            case NUMBER_VALUE -> claims.putIfAbsent(k, Long.toString((long) v.getNumberValue()));
            case BOOL_VALUE -> claims.putIfAbsent(k, Boolean.toString(v.getBoolValue()));
            default -> { }
          }
        });
      }
    }
    return claims;
  }

  /**
   * Envoy's count of upstream attempts, which its router adds to the response when the virtual
   * host sets include_attempt_count_in_response (router.cc, onUpstreamHeaders:
   * "if (include_attempt_count_in_response_) headers.setEnvoyAttemptCount(attempt_count_)"); 1
   * when absent, since a backend answered.
   */
  static int attempts(String header) {
    if (header == null) {
      return 1;
    }
    try {
      return Math.max(1, Integer.parseInt(header.strip()));
    } catch (NumberFormatException e) {
      return 1;
    }
  }

  private static int parseStatus(String status) {
    try {
      return status == null ? 0 : Integer.parseInt(status.trim());
    } catch (NumberFormatException e) {
      return 0;
    }
  }
}
