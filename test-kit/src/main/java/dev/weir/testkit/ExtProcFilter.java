package dev.weir.testkit;

import com.google.protobuf.ByteString;
import com.google.protobuf.Struct;
import io.envoyproxy.envoy.config.core.v3.HeaderMap;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.HeaderSendMode;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.CommonResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ImmediateResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.grpc.Channel;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;

/**
 * One instance of Envoy's ext_proc HTTP filter for one exchange, behaving as Envoy 1.34 does
 * (envoy/extensions/filters/http/ext_proc/v3/ext_proc.proto and processing_mode.proto in
 * io.envoyproxy.controlplane:api 1.0.49; source/extensions/filters/http/ext_proc/ext_proc.cc,
 * processor_state.cc, mutation_utils.cc and source/extensions/filters/common/mutation_rules/
 * mutation_rules.cc):
 *
 * <ul>
 *   <li>messages only for the phases the processing mode sends (headers default SEND, bodies
 *       default NONE, trailers default SKIP); the stream opens lazily on the first one;
 *   <li>each message waits for its matching answer up to {@code message_timeout} (default 200 ms);
 *       a timeout fails the exchange with 504, a gRPC error with 500, unless
 *       {@code failure_mode_allow}; a clean close by the server means "continue without me";
 *       an answer for another phase ("spurious"), and an immediate response while
 *       {@code disable_immediate_response} is set, are ignored and the processor dropped for the
 *       rest of the exchange: that is 1.34 (ext_proc.cc onReceiveMessage); from 1.35 they fail the
 *       exchange unless failure_mode_allow (runtime flag ext_proc_fail_close_spurious_resp);
 *   <li>{@code request_attributes} go with the first request-path message and
 *       {@code response_attributes} with the first response-path message;
 *   <li>header mutations follow Envoy's default mutation rules: {@code host}, {@code :authority},
 *       {@code :scheme}, {@code :method} and {@code x-envoy-*} cannot be set, {@code x-envoy-*},
 *       {@code :}-headers and {@code host} cannot be removed (refused mutations are counted and
 *       ignored); an invalid name or value fails the exchange with 500; {@code append_action} is
 *       ignored and only the deprecated {@code append} flag appends (mutation_utils.cc
 *       applyHeaderMutations); on body answers they apply only in BUFFERED modes;
 *   <li>{@code mode_override} is honoured only on header answers, only with
 *       {@code allow_mode_override} (and within {@code allowed_override_modes} if set), and
 *       replaces the whole mode; {@code allowed_override_modes} is compared ignoring
 *       {@code request_header_mode}; {@code CONTINUE_AND_REPLACE} on a header answer stops further
 *       body messages for that direction and replaces the body only if it carries a body mutation
 *       (processor_state.cc handleHeadersResponse);
 *   <li>{@code clear_route_cache} (and route_cache_action CLEAR) acts only on request-direction
 *       answers that also carry a header mutation, and never in the upstream filter chain
 *       (processor_state.cc DecodingProcessorState::clearRouteCache).
 * </ul>
 */
final class ExtProcFilter {
  /** What Envoy does after one phase. */
  sealed interface Outcome permits Continue, LocalReply, Failure {}

  /** Go on; the body may have been replaced and the route cache may need clearing. */
  record Continue(byte[] body, boolean clearRouteCache) implements Outcome {}

  /** The server answered with an immediate response. */
  record LocalReply(int status, HeaderList headers, byte[] body, String details) implements Outcome {}

  /** The processor failed (timeout 504, error 500) and failure_mode_allow is false. */
  record Failure(int status, String details) implements Outcome {}


  private final String name;
  private final ExternalProcessor config;
  private final Channel channel;
  private final Map<String, Struct> requestAttributes;
  private Map<String, Struct> responseAttributes;
  private final Consumer<String> trace;
  private final EnvoyStats stats;
  private final boolean upstream;
  private ExtProcStream stream;
  private boolean disabled;
  private boolean sentRequestAttributes;
  private boolean sentResponseAttributes;
  private ProcessingMode mode;
  private io.envoyproxy.envoy.config.core.v3.Metadata forwarded =
      io.envoyproxy.envoy.config.core.v3.Metadata.getDefaultInstance();
  private boolean requestBodyReplaced;
  private boolean responseBodyReplaced;

  ExtProcFilter(String name, ExternalProcessor config, Channel channel,
      Map<String, Struct> requestAttributes, Map<String, Struct> responseAttributes,
      Consumer<String> trace, EnvoyStats stats, boolean upstream) {
    this.upstream = upstream;
    this.name = name;
    this.config = config;
    this.channel = channel;
    this.requestAttributes = requestAttributes;
    this.responseAttributes = responseAttributes;
    this.trace = trace;
    this.stats = stats;
    this.mode = config.getProcessingMode();
  }

  /** Dynamic metadata of the stream; only the forwarding namespaces reach the server. */
  void setDynamicMetadata(io.envoyproxy.envoy.config.core.v3.Metadata metadata) {
    var b = io.envoyproxy.envoy.config.core.v3.Metadata.newBuilder();
    for (String ns : config.getMetadataOptions().getForwardingNamespaces().getUntypedList()) {
      Struct s = metadata.getFilterMetadataMap().get(ns);
      if (s != null) {
        b.putFilterMetadata(ns, s);
      }
    }
    forwarded = b.build();
  }

  void setResponseAttributes(Map<String, Struct> attributes) {
    this.responseAttributes = attributes;
  }

  boolean sendsRequestHeaders() {
    return !disabled && mode.getRequestHeaderMode() != HeaderSendMode.SKIP;
  }

  BodySendMode requestBodyMode() {
    return disabled || requestBodyReplaced ? BodySendMode.NONE : mode.getRequestBodyMode();
  }

  boolean sendsResponseHeaders() {
    return !disabled && mode.getResponseHeaderMode() != HeaderSendMode.SKIP;
  }

  BodySendMode responseBodyMode() {
    return disabled || responseBodyReplaced ? BodySendMode.NONE : mode.getResponseBodyMode();
  }

  Outcome requestHeaders(HeaderList headers, boolean endOfStream) {
    ProcessingRequest.Builder req = ProcessingRequest.newBuilder()
        .setRequestHeaders(HttpHeaders.newBuilder().setHeaders(toHeaderMap(headers)).setEndOfStream(endOfStream));
    if (!sentRequestAttributes) {
      sentRequestAttributes = true;
      req.putAllAttributes(requestAttributes);
    }
    return headersPhase(req.build(), headers, true);
  }

  Outcome responseHeaders(HeaderList headers, boolean endOfStream) {
    ProcessingRequest.Builder req = ProcessingRequest.newBuilder()
        .setResponseHeaders(HttpHeaders.newBuilder().setHeaders(toHeaderMap(headers)).setEndOfStream(endOfStream));
    if (!sentResponseAttributes) {
      sentResponseAttributes = true;
      req.putAllAttributes(responseAttributes);
    }
    return headersPhase(req.build(), headers, false);
  }

  /** One body message (the whole body in BUFFERED mode, one chunk in STREAMED). */
  Outcome requestBody(byte[] chunk, boolean endOfStream, HeaderList headers) {
    ProcessingRequest.Builder req = ProcessingRequest.newBuilder()
        .setRequestBody(HttpBody.newBuilder().setBody(ByteString.copyFrom(chunk)).setEndOfStream(endOfStream));
    if (!sentRequestAttributes) {
      sentRequestAttributes = true;
      req.putAllAttributes(requestAttributes);
    }
    return bodyPhase(req.build(), chunk, headers, mode.getRequestBodyMode(), true);
  }

  Outcome responseBody(byte[] chunk, boolean endOfStream, HeaderList headers) {
    ProcessingRequest.Builder req = ProcessingRequest.newBuilder()
        .setResponseBody(HttpBody.newBuilder().setBody(ByteString.copyFrom(chunk)).setEndOfStream(endOfStream));
    if (!sentResponseAttributes) {
      sentResponseAttributes = true;
      req.putAllAttributes(responseAttributes);
    }
    return bodyPhase(req.build(), chunk, headers, mode.getResponseBodyMode(), false);
  }

  private Outcome headersPhase(ProcessingRequest req, HeaderList headers, boolean request) {
    ProcessingResponse.ResponseCase expected = request
        ? ProcessingResponse.ResponseCase.REQUEST_HEADERS : ProcessingResponse.ResponseCase.RESPONSE_HEADERS;
    Object answer = send(req, expected);
    if (answer instanceof Outcome o) {
      return o;
    }
    ProcessingResponse response = (ProcessingResponse) answer;
    CommonResponse common = request ? response.getRequestHeaders().getResponse()
        : response.getResponseHeaders().getResponse();
    if (!HeaderMutations.apply(common.getHeaderMutation(), headers, stats)) {
      return invalidMutation();
    }
    if (response.hasModeOverride()) {
      overrideMode(response.getModeOverride());
    }
    byte[] replaced = null;
    if (common.getStatus() == CommonResponse.ResponseStatus.CONTINUE_AND_REPLACE) {
      if (common.hasBodyMutation()) {
        replaced = mutatedBody(common.getBodyMutation(), new byte[0]);
        headers.remove("content-length");
      }
      if (request) {
        requestBodyReplaced = true;
      } else {
        responseBodyReplaced = true;
      }
    }
    return new Continue(replaced, request && routeCacheCleared(common));
  }

  private Outcome bodyPhase(ProcessingRequest req, byte[] chunk, HeaderList headers, BodySendMode bodyMode,
      boolean request) {
    ProcessingResponse.ResponseCase expected = request
        ? ProcessingResponse.ResponseCase.REQUEST_BODY : ProcessingResponse.ResponseCase.RESPONSE_BODY;
    Object answer = send(req, expected);
    if (answer instanceof Outcome o) {
      return o;
    }
    ProcessingResponse response = (ProcessingResponse) answer;
    CommonResponse common = request ? response.getRequestBody().getResponse()
        : response.getResponseBody().getResponse();
    boolean buffered = bodyMode == BodySendMode.BUFFERED || bodyMode == BodySendMode.BUFFERED_PARTIAL;
    if (common.hasHeaderMutation()) {
      if (buffered) {
        if (!HeaderMutations.apply(common.getHeaderMutation(), headers, stats)) {
          return invalidMutation();
        }
      } else {
        stats.ignoredBodyHeaderMutations.incrementAndGet();
      }
    }
    byte[] body = chunk;
    if (common.hasBodyMutation()) {
      body = mutatedBody(common.getBodyMutation(), chunk);
      if (buffered) {
        String length = headers.get("content-length");
        if (length != null && !length.equals(Integer.toString(body.length))) {
          // Envoy refuses a buffered body mutation that leaves a wrong content-length.
          trace.accept(name + ": body mutation left content-length " + length + " for " + body.length + " bytes");
          return fail(500, "ext_proc_body_mutation_content_length_mismatch");
        }
      } else {
        headers.remove("content-length");
      }
    }
    return new Continue(body, request && routeCacheCleared(common));
  }

  /** Sends and waits; returns the matching ProcessingResponse or an Outcome that ends the phase. */
  private Object send(ProcessingRequest req, ProcessingResponse.ResponseCase expected) {
    if (forwarded.getFilterMetadataCount() > 0) {
      req = req.toBuilder().setMetadataContext(forwarded).build();
    }
    if (stream == null) {
      stream = new ExtProcStream(channel, initialMetadata());
    }
    trace.accept(name + ": " + req.getRequestCase().name().toLowerCase(Locale.ROOT));
    stats.messages.incrementAndGet();
    ExtProcStream.Event event = stream.exchange(req, timeout());
    return switch (event) {
      case ExtProcStream.Answer a when a.response().hasImmediateResponse() -> immediate(a.response(), expected);
      case ExtProcStream.Answer a when a.response().getResponseCase() == expected -> a.response();
      case ExtProcStream.Answer a -> spurious(a.response().getResponseCase() + " for " + expected);
      case ExtProcStream.Closed c -> {
        disabled = true; // a clean close: Envoy continues without the processor
        yield new Continue(null, false);
      }
      case ExtProcStream.Failed f -> {
        trace.accept(name + ": stream failed " + f.status());
        yield fail(500, "ext_proc_error_gRPC_error_" + f.status().getCode().value());
      }
      case ExtProcStream.TimedOut t -> {
        stats.messageTimeouts.incrementAndGet();
        stream.finish(true);
        yield fail(504, "ext_proc_message_timeout");
      }
    };
  }

  private Object immediate(ProcessingResponse response, ProcessingResponse.ResponseCase expected) {
    if (config.getDisableImmediateResponse()) {
      return spurious("immediate_response while disable_immediate_response is set");
    }
    ImmediateResponse ir = response.getImmediateResponse();
    HeaderList headers = new HeaderList();
    HeaderMutations.apply(ir.getHeaders(), headers, stats);
    int status = ir.hasStatus() && ir.getStatus().getCodeValue() != 0 ? ir.getStatus().getCodeValue() : 200;
    disabled = true;
    stream.finish(false);
    trace.accept(name + ": immediate_response " + status + " (" + expected + ")");
    return new LocalReply(status, headers, ir.getBody().toByteArray(), ir.getDetails());
  }

  /** Envoy 1.34: ignore the answer, close the stream and go on without the processor. */
  private Outcome spurious(String what) {
    trace.accept(name + ": spurious " + what + "; processor dropped");
    stats.spuriousMessages.incrementAndGet();
    stream.finish(true);
    disabled = true;
    return new Continue(null, false);
  }

  /** An invalid header mutation becomes an immediate 500, failure_mode_allow or not. */
  private Outcome invalidMutation() {
    trace.accept(name + ": invalid header mutation");
    disabled = true;
    stream.finish(true);
    return new Failure(500, "ext_proc_error_invalid_header_mutation");
  }

  private Outcome fail(int status, String details) {
    disabled = true;
    if (config.getFailureModeAllow()) {
      stats.failureModeAllowed.incrementAndGet();
      return new Continue(null, false);
    }
    return new Failure(status, details);
  }

  private void overrideMode(ProcessingMode override) {
    if (!config.getAllowModeOverride()) {
      stats.ignoredModeOverrides.incrementAndGet();
      return;
    }
    ProcessingMode configured = config.getProcessingMode();
    if (configured.getRequestBodyMode() == BodySendMode.FULL_DUPLEX_STREAMED
        || configured.getResponseBodyMode() == BodySendMode.FULL_DUPLEX_STREAMED) {
      stats.ignoredModeOverrides.incrementAndGet();
      return;
    }
    List<ProcessingMode> allowed = config.getAllowedOverrideModesList();
    ProcessingMode comparable = override.toBuilder().clearRequestHeaderMode().build();
    if (!allowed.isEmpty()
        && allowed.stream().noneMatch(m -> m.toBuilder().clearRequestHeaderMode().build().equals(comparable))) {
      stats.ignoredModeOverrides.incrementAndGet();
      return;
    }
    mode = override;
  }

  private boolean routeCacheCleared(CommonResponse common) {
    if (upstream || !common.hasHeaderMutation()) {
      return false;
    }
    return switch (config.getRouteCacheAction()) {
      case CLEAR -> true;
      case RETAIN -> false;
      default -> common.getClearRouteCache();
    };
  }

  private static byte[] mutatedBody(BodyMutation mutation, byte[] original) {
    return switch (mutation.getMutationCase()) {
      case BODY -> mutation.getBody().toByteArray();
      case CLEAR_BODY -> mutation.getClearBody() ? new byte[0] : original;
      default -> original;
    };
  }

  private Duration timeout() {
    if (!config.hasMessageTimeout()) {
      return Duration.ofMillis(200);
    }
    return Duration.ofSeconds(config.getMessageTimeout().getSeconds(), config.getMessageTimeout().getNanos());
  }

  private Map<String, String> initialMetadata() {
    Map<String, String> md = new HashMap<>();
    config.getGrpcService().getInitialMetadataList().forEach(h -> md.put(h.getKey(), h.getValue()));
    return md;
  }

  static HeaderMap toHeaderMap(HeaderList headers) {
    HeaderMap.Builder map = HeaderMap.newBuilder();
    for (Map.Entry<String, String> e : headers.entries()) {
      // Envoy ≥1.27 fills raw_value, not value.
      map.addHeaders(HeaderValue.newBuilder().setKey(e.getKey()).setRawValue(ByteString.copyFromUtf8(e.getValue())));
    }
    return map.build();
  }

  /** Envoy half-closes the stream when the exchange is over; cancels it when aborted. */
  void close(boolean aborted) {
    if (stream != null) {
      stream.finish(aborted);
    }
  }
}
