package dev.weir.extproc.session;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.protobuf.ByteString;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import dev.weir.extproc.GatewayRuntime;
import dev.weir.extproc.auth.Authenticator;
import dev.weir.extproc.auth.Caller;
import dev.weir.extproc.limits.Limiter;
import dev.weir.extproc.openai.ApiError;
import dev.weir.extproc.openai.Endpoint;
import dev.weir.extproc.openai.Json;
import dev.weir.extproc.openai.ParsedRequest;
import dev.weir.extproc.openai.SseParser;
import dev.weir.extproc.openai.Usage;
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
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The router-level pass over one exchange, phase by phase: authenticate the caller (request
 * headers); validate the body, resolve the model to a pool, reserve its tokens against the
 * caller's limits and point Envoy's route at the pool (request body); report limits, switch SSE
 * answers to streamed processing and name the backend (response headers); read or count the usage
 * and settle the reservation (response body, or the end of the stream if the client left).
 */
public final class RouterExchange implements Exchange {
  private static final Logger log = LoggerFactory.getLogger(RouterExchange.class);
  private static final ProcessingMode STREAM_RESPONSE_BODY = ProcessingMode.newBuilder()
      .setResponseHeaderMode(ProcessingMode.HeaderSendMode.SEND)
      .setResponseBodyMode(ProcessingMode.BodySendMode.STREAMED)
      .build();
  static final String JWT_NAMESPACE = "envoy.filters.http.jwt_authn";

  private final GatewayRuntime gateway;
  private final ExchangeRecord record;

  private Endpoint endpoint;
  private Caller caller;
  private ParsedRequest request;
  private Map<String, String> requestHeaders = Map.of();
  private String clientIp = "";
  private Map<String, String> jwtClaims = Map.of();
  private Limiter.Reservation reservation;
  private Map<String, String> limitHeaders = Map.of();
  /** We asked the backend for stream usage the client did not ask for: drop it from the stream. */
  private boolean stripUsageChunk;
  private int status;
  private boolean streaming;
  private boolean responseStarted;
  private boolean localReply;
  private SseParser sse;
  private final StringBuilder streamedText = new StringBuilder();
  private ByteString bufferedResponse = ByteString.EMPTY;

  public RouterExchange(GatewayRuntime gateway) {
    this.gateway = gateway;
    this.record = new ExchangeRecord(System.nanoTime());
  }

  @Override
  public ProcessingResponse handle(ProcessingRequest message) {
    return switch (message.getRequestCase()) {
      case REQUEST_HEADERS -> onRequestHeaders(message, message.getRequestHeaders());
      case REQUEST_BODY -> onRequestBody(message.getRequestBody());
      case RESPONSE_HEADERS -> onResponseHeaders(message, message.getResponseHeaders());
      case RESPONSE_BODY -> onResponseBody(message.getResponseBody());
      default -> Messages.continueUnchanged(message);
    };
  }

  private ProcessingResponse onRequestHeaders(ProcessingRequest message, HttpHeaders headersMessage) {
    Map<String, String> headers = Messages.headers(headersMessage.getHeaders());
    requestHeaders = headers;
    clientIp = dev.weir.extproc.limits.ClientAddress.fromSourceAddress(Messages.attribute(message, "source.address"));
    jwtClaims = claims(message);
    String method = headers.getOrDefault(":method", "");
    String fullPath = headers.getOrDefault(":path", "/");
    int q = fullPath.indexOf('?');
    String path = q < 0 ? fullPath : fullPath.substring(0, q);
    endpoint = Endpoint.forPath(path);
    if (endpoint == null) {
      return reject(ApiError.notFound("unknown_url", "Invalid URL (" + method + " " + path
          + "). Weir serves POST /v1/chat/completions, POST /v1/completions, POST /v1/embeddings"
          + " and GET /v1/models."), Map.of());
    }
    record.endpoint(endpoint);
    if (!endpoint.method().equals(method)) {
      return reject(new ApiError(405, "invalid_request_error", "method_not_allowed",
          "Method " + method + " is not allowed on " + endpoint.path() + "; use " + endpoint.method() + "."), Map.of());
    }
    Authenticator.Result auth = gateway.authenticator().authenticate(
        headers.get("authorization"), headers.get("api-key"));
    if (auth instanceof Authenticator.Rejected rejected) {
      return reject(rejected.error(), Map.of());
    }
    caller = ((Authenticator.Authenticated) auth).caller();
    record.consumer(caller.name());
    if (endpoint == Endpoint.MODELS) {
      record.status(200);
      record.outcome("answered");
      return Messages.immediate(200, modelList(), "weir_models", Map.of());
    }
    if (headersMessage.getEndOfStream()) {
      return reject(ApiError.badRequest("missing_body", "The request body is empty; send a JSON object."), Map.of());
    }
    // Client credentials and any client-set internal header go no further than this.
    HeaderMutation.Builder mutation = HeaderMutation.newBuilder()
        .addRemoveHeaders("authorization").addRemoveHeaders("api-key");
    GatewayHeaders.INTERNAL.forEach(mutation::addRemoveHeaders);
    mutation.addSetHeaders(Messages.set(GatewayHeaders.ORIGINAL_PATH, fullPath));
    return Messages.requestHeaders(CommonResponse.newBuilder().setHeaderMutation(mutation).build());
  }

  private ProcessingResponse onRequestBody(HttpBody message) {
    if (endpoint == null || caller == null) {
      return reject(ApiError.internal("request body arrived before its headers were accepted"), Map.of());
    }
    int limit = gateway.maxRequestBytes();
    if (message.getBody().size() > limit) {
      return reject(new ApiError(413, "invalid_request_error", "request_too_large", "The request body has "
          + message.getBody().size() + " bytes; this gateway accepts at most " + limit + "."), Map.of());
    }
    ParsedRequest.Result parsed = ParsedRequest.parse(endpoint, message.getBody().toByteArray());
    if (parsed instanceof ParsedRequest.Invalid invalid) {
      return reject(invalid.error(), Map.of());
    }
    request = ((ParsedRequest.Ok) parsed).request();
    record.model(request.model());
    String pool = gateway.routing().poolFor(request.model());
    if (pool == null) {
      return reject(ApiError.notFound("model_not_found", "The model `" + request.model()
          + "` does not exist or you do not have access to it."), Map.of());
    }
    if (!caller.mayUse(request.model())) {
      return reject(ApiError.forbidden("model_not_allowed", "Consumer \"" + caller.name()
          + "\" may not use model `" + request.model() + "`."), Map.of());
    }
    record.pool(pool);
    if (gateway.limiter().limits(caller.name())) {
      long prompt = gateway.tokens().promptTokens(caller.name(), request);
      record.estimatedPromptTokens(prompt);
      Limiter.Admission admission = gateway.limiter().admit(new Limiter.Facts(caller.name(), clientIp,
          requestHeaders, jwtClaims, request.model(), prompt, completionReservation()));
      if (admission instanceof Limiter.Refused refused) {
        Map<String, String> extra = new LinkedHashMap<>();
        if (refused.error().status() == 429 || refused.error().status() == 503) {
          extra.put("retry-after", Long.toString(Math.max(1, refused.retryAfterSeconds())));
        }
        extra.put("x-weir-limit", refused.limit());
        return reject(refused.error(), extra);
      }
      Limiter.Admitted admitted = (Limiter.Admitted) admission;
      reservation = admitted.reservation();
      limitHeaders = admitted.headers();
    }
    HeaderMutation.Builder mutation = HeaderMutation.newBuilder()
        .addSetHeaders(Messages.set(GatewayHeaders.POOL, pool))
        .addSetHeaders(Messages.set(GatewayHeaders.MODEL, request.model()));
    CommonResponse.Builder common = CommonResponse.newBuilder().setClearRouteCache(true);
    if (request.stream() && !request.body().path("stream_options").path("include_usage").asBoolean(false)
        && gateway.config().getTokens().getStreamUsage() == dev.weir.config.v1.StreamUsage.REQUEST) {
      // Ask for the usage chunk so tokens are known exactly; the client will not see it.
      ObjectNode body = request.body().deepCopy();
      body.withObject("/stream_options").put("include_usage", true);
      byte[] bytes = body.toString().getBytes(StandardCharsets.UTF_8);
      mutation.addSetHeaders(Messages.set("content-length", Integer.toString(bytes.length)));
      common.setBodyMutation(BodyMutation.newBuilder().setBody(ByteString.copyFrom(bytes)));
      stripUsageChunk = true;
    }
    // Envoy picked the route before this filter ran; only clear_route_cache makes it match the
    // pool header we just set (router-level filter chain, request direction: honoured there).
    return Messages.requestBody(common.setHeaderMutation(mutation).build());
  }

  /** max_completion_tokens, else max_tokens, else the default; capped; times n choices. */
  private long completionReservation() {
    if (endpoint == Endpoint.EMBEDDINGS) {
      return 0;
    }
    JsonNode body = request.body();
    var settings = gateway.config().getTokens();
    long asked = body.path("max_completion_tokens").asLong(body.path("max_tokens").asLong(0));
    long each = asked > 0 ? Math.min(asked, settings.getMaxCompletionReservation())
        : settings.getDefaultCompletionReservation();
    long n = Math.max(1, Math.min(body.path("n").asLong(1), 128));
    return each * n;
  }

  private ProcessingResponse onResponseHeaders(ProcessingRequest message, HttpHeaders headersMessage) {
    Map<String, String> headers = Messages.headers(headersMessage.getHeaders());
    status = parseStatus(headers.get(":status"));
    record.status(status);
    responseStarted = true;
    localReply = headers.containsKey(GatewayHeaders.LOCAL_REPLY);
    String backend = Messages.attribute(message, GatewayHeaders.BACKEND_ATTRIBUTE);
    HeaderMutation.Builder mutation = HeaderMutation.newBuilder();
    if (backend != null && !localReply) {
      record.backend(backend);
      mutation.addSetHeaders(Messages.set(GatewayHeaders.BACKEND, backend));
    }
    if (localReply) {
      mutation.addRemoveHeaders(GatewayHeaders.LOCAL_REPLY);
      record.outcome("gateway_error");
    }
    limitHeaders.forEach((k, v) -> mutation.addSetHeaders(Messages.set(k, v)));
    if (reservation != null && status == 200) {
      mutation.addSetHeaders(Messages.set("x-weir-tokens-reserved", Long.toString(reservation.reservedTokens())));
    }
    CommonResponse common = CommonResponse.newBuilder().setHeaderMutation(mutation).build();
    String contentType = headers.getOrDefault("content-type", "");
    streaming = status == 200 && contentType.startsWith("text/event-stream");
    if (headersMessage.getEndOfStream()) {
      settle();
      return Messages.responseHeaders(common);
    }
    if (streaming) {
      sse = new SseParser(gateway.maxRequestBytes());
      return Messages.responseHeaders(common, STREAM_RESPONSE_BODY);
    }
    return Messages.responseHeaders(common);
  }

  private ProcessingResponse onResponseBody(HttpBody message) {
    if (streaming) {
      return onStreamChunk(message);
    }
    bufferedResponse = bufferedResponse.concat(message.getBody());
    if (!message.getEndOfStream()) {
      return Messages.responseBody(CommonResponse.getDefaultInstance());
    }
    if (status == 200 && !localReply) {
      readUsage(bufferedResponse.toByteArray());
    }
    long consumed = settle();
    if (consumed < 0) {
      return Messages.responseBody(CommonResponse.getDefaultInstance());
    }
    // Buffered: headers are still Envoy's to send, so the actual count can go in them.
    return Messages.responseBody(CommonResponse.newBuilder().setHeaderMutation(HeaderMutation.newBuilder()
        .addSetHeaders(Messages.set("x-weir-tokens-consumed", Long.toString(consumed)))).build());
  }

  private ProcessingResponse onStreamChunk(HttpBody message) {
    java.util.List<SseParser.Event> events = new java.util.ArrayList<>(sse.feed(message.getBody().toByteArray()));
    if (message.getEndOfStream()) {
      events.addAll(sse.finish());
    }
    ByteArrayOutputStream passOn = stripUsageChunk ? new ByteArrayOutputStream(message.getBody().size()) : null;
    for (SseParser.Event event : events) {
      boolean drop = onStreamEvent(event.data());
      if (passOn != null && !drop) {
        passOn.writeBytes(event.raw());
      }
    }
    if (message.getEndOfStream()) {
      settle();
    }
    if (passOn == null) {
      return Messages.responseBody(CommonResponse.getDefaultInstance());
    }
    // Complete events only; a partial one goes out with the chunk that completes it.
    return Messages.responseBody(CommonResponse.newBuilder()
        .setBodyMutation(BodyMutation.newBuilder().setBody(ByteString.copyFrom(passOn.toByteArray()))).build());
  }

  /** Reads one SSE event; returns true when it must not reach the client. */
  private boolean onStreamEvent(String data) {
    if (data == null) {
      return false;
    }
    record.streamEvent();
    if (data.equals("[DONE]")) {
      return false;
    }
    JsonNode chunk;
    try {
      chunk = Json.MAPPER.readTree(data);
    } catch (IOException e) {
      log.debug("unparseable SSE event passed on: {}", e.getMessage());
      return false;
    }
    for (JsonNode choice : chunk.path("choices")) {
      // Kept to count the answer ourselves if the backend never reports usage.
      streamedText.append(choice.path("delta").path("content").asText(""));
      streamedText.append(choice.path("text").asText(""));
      for (JsonNode call : choice.path("delta").path("tool_calls")) {
        streamedText.append(call.path("function").path("arguments").asText(""));
      }
    }
    Usage usage = Usage.from(chunk.get("usage"));
    if (usage != null) {
      record.usage(usage);
      return stripUsageChunk && chunk.path("choices").isEmpty();
    }
    return false;
  }

  private void readUsage(byte[] body) {
    try {
      JsonNode root = Json.MAPPER.readTree(body);
      Usage usage = root == null ? null : Usage.from(root.get("usage"));
      if (usage != null) {
        record.usage(usage);
      }
    } catch (IOException e) {
      log.debug("backend answered 200 with a body that is not JSON: {}", e.getMessage());
    }
  }

  /**
   * Settles the reservation once: with the reported usage; else with our own count of what was
   * streamed; a failed call refunds everything. Returns the tokens charged, or -1 when nothing
   * was reserved.
   */
  private long settle() {
    Usage usage = record.usage();
    long input;
    long cached = 0;
    long output;
    boolean served = status == 200 && !localReply;
    if (usage != null) {
      input = usage.promptTokens();
      cached = Math.max(0, usage.cachedPromptTokens());
      output = usage.completionTokens();
    } else if (served && request != null) {
      // No usage from the backend: our estimate of the prompt, our count of the answer.
      input = record.estimatedPromptTokens() >= 0 ? record.estimatedPromptTokens()
          : gateway.tokens().promptTokens(request);
      output = gateway.tokens().count(request.model(), streamedText.toString());
      record.usage(new Usage(input, output, input + output, -1, -1));
      record.usageCounted();
    } else {
      input = 0;
      output = 0;
    }
    if (reservation == null) {
      if (served && request != null) {
        record.costMicros(gateway.limiter().price(request.model(), input, cached, output));
      }
      return -1;
    }
    long cost = reservation.reconcile(input, cached, output);
    record.costMicros(cost);
    return input + output;
  }

  @Override
  public void end(boolean aborted) {
    if (aborted && reservation != null) {
      // The client left or the stream broke: charge what was streamed (nothing if no answer began).
      if (!responseStarted || !streaming) {
        reservation.reconcile(0, 0, 0);
      } else {
        settle();
      }
    }
    gateway.metrics().record(record.finish(aborted));
  }

  private ProcessingResponse reject(ApiError error, Map<String, String> headers) {
    record.status(error.status());
    record.outcome("rejected_" + error.code());
    return Messages.immediate(error, headers);
  }

  private byte[] modelList() {
    ObjectNode root = Json.MAPPER.createObjectNode();
    root.put("object", "list");
    ArrayNode data = root.putArray("data");
    for (String model : gateway.routing().models()) {
      if (caller.mayUse(model)) {
        ObjectNode m = data.addObject();
        m.put("id", model);
        m.put("object", "model");
        m.put("created", gateway.startedEpochSeconds());
        m.put("owned_by", "weir");
      }
    }
    return root.toString().getBytes(StandardCharsets.UTF_8);
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

  private static int parseStatus(String status) {
    try {
      return status == null ? 0 : Integer.parseInt(status.trim());
    } catch (NumberFormatException e) {
      return 0;
    }
  }
}
