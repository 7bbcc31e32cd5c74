package dev.weir.extproc.session;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weir.extproc.GatewayRuntime;
import dev.weir.extproc.auth.Authenticator;
import dev.weir.extproc.auth.Caller;
import dev.weir.extproc.openai.ApiError;
import dev.weir.extproc.openai.Endpoint;
import dev.weir.extproc.openai.Json;
import dev.weir.extproc.openai.ParsedRequest;
import dev.weir.extproc.openai.SseParser;
import dev.weir.extproc.openai.Usage;
import dev.weir.extproc.telemetry.ExchangeRecord;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode;
import io.envoyproxy.envoy.service.ext_proc.v3.CommonResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HeaderMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The router-level pass over one exchange, phase by phase: authenticate the caller (request
 * headers); validate the body, resolve the model to a pool and point Envoy's route at it (request
 * body); switch SSE answers to streamed processing and name the backend (response headers); read
 * the usage the backend reported (response body).
 */
public final class RouterExchange implements Exchange {
  private static final Logger log = LoggerFactory.getLogger(RouterExchange.class);
  private static final ProcessingMode STREAM_RESPONSE_BODY = ProcessingMode.newBuilder()
      .setResponseHeaderMode(ProcessingMode.HeaderSendMode.SEND)
      .setResponseBodyMode(ProcessingMode.BodySendMode.STREAMED)
      .build();

  private final GatewayRuntime gateway;
  private final ExchangeRecord record;

  private Endpoint endpoint;
  private Caller caller;
  private ParsedRequest request;
  private int status;
  private boolean streaming;
  private boolean localReply;
  private SseParser sse;
  private com.google.protobuf.ByteString bufferedResponse = com.google.protobuf.ByteString.EMPTY;

  public RouterExchange(GatewayRuntime gateway) {
    this.gateway = gateway;
    this.record = new ExchangeRecord(System.nanoTime());
  }

  @Override
  public ProcessingResponse handle(ProcessingRequest message) {
    return switch (message.getRequestCase()) {
      case REQUEST_HEADERS -> onRequestHeaders(message.getRequestHeaders());
      case REQUEST_BODY -> onRequestBody(message.getRequestBody());
      case RESPONSE_HEADERS -> onResponseHeaders(message, message.getResponseHeaders());
      case RESPONSE_BODY -> onResponseBody(message.getResponseBody());
      default -> Messages.continueUnchanged(message);
    };
  }

  private ProcessingResponse onRequestHeaders(HttpHeaders message) {
    Map<String, String> headers = Messages.headers(message.getHeaders());
    String method = headers.getOrDefault(":method", "");
    String fullPath = headers.getOrDefault(":path", "/");
    int q = fullPath.indexOf('?');
    String path = q < 0 ? fullPath : fullPath.substring(0, q);
    endpoint = Endpoint.forPath(path);
    if (endpoint == null) {
      return reject(ApiError.notFound("unknown_url", "Invalid URL (" + method + " " + path
          + "). Weir serves POST /v1/chat/completions, POST /v1/completions, POST /v1/embeddings"
          + " and GET /v1/models."));
    }
    record.endpoint(endpoint);
    if (!endpoint.method().equals(method)) {
      return reject(new ApiError(405, "invalid_request_error", "method_not_allowed",
          "Method " + method + " is not allowed on " + endpoint.path() + "; use " + endpoint.method() + "."));
    }
    Authenticator.Result auth = gateway.authenticator().authenticate(
        headers.get("authorization"), headers.get("api-key"));
    if (auth instanceof Authenticator.Rejected rejected) {
      return reject(rejected.error());
    }
    caller = ((Authenticator.Authenticated) auth).caller();
    record.consumer(caller.name());
    if (endpoint == Endpoint.MODELS) {
      return answer(200, modelList(), "weir_models");
    }
    if (message.getEndOfStream()) {
      return reject(ApiError.badRequest("missing_body", "The request body is empty; send a JSON object."));
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
      return reject(ApiError.internal("request body arrived before its headers were accepted"));
    }
    int limit = gateway.maxRequestBytes();
    if (message.getBody().size() > limit) {
      return reject(ApiError.badRequest("request_too_large", "The request body has "
          + message.getBody().size() + " bytes; this gateway accepts at most " + limit + "."));
    }
    ParsedRequest.Result parsed = ParsedRequest.parse(endpoint, message.getBody().toByteArray());
    if (parsed instanceof ParsedRequest.Invalid invalid) {
      return reject(invalid.error());
    }
    request = ((ParsedRequest.Ok) parsed).request();
    record.model(request.model());
    String pool = gateway.routing().poolFor(request.model());
    if (pool == null) {
      return reject(ApiError.notFound("model_not_found", "The model `" + request.model()
          + "` does not exist or you do not have access to it."));
    }
    if (!caller.mayUse(request.model())) {
      return reject(ApiError.forbidden("model_not_allowed", "Consumer \"" + caller.name()
          + "\" may not use model `" + request.model() + "`."));
    }
    record.pool(pool);
    HeaderMutation.Builder mutation = HeaderMutation.newBuilder()
        .addSetHeaders(Messages.set(GatewayHeaders.POOL, pool))
        .addSetHeaders(Messages.set(GatewayHeaders.MODEL, request.model()));
    // Envoy picked the route before this filter ran; only clear_route_cache makes it match the
    // pool header we just set (router-level filter chain, request direction: honoured there).
    return Messages.requestBody(CommonResponse.newBuilder()
        .setHeaderMutation(mutation).setClearRouteCache(true).build());
  }

  private ProcessingResponse onResponseHeaders(ProcessingRequest message, HttpHeaders headersMessage) {
    Map<String, String> headers = Messages.headers(headersMessage.getHeaders());
    status = parseStatus(headers.get(":status"));
    record.status(status);
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
    CommonResponse common = CommonResponse.newBuilder().setHeaderMutation(mutation).build();
    String contentType = headers.getOrDefault("content-type", "");
    streaming = status == 200 && contentType.startsWith("text/event-stream");
    if (headersMessage.getEndOfStream()) {
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
      for (String data : sse.feed(message.getBody().toByteArray())) {
        onStreamEvent(data);
      }
      if (message.getEndOfStream()) {
        sse.finish().forEach(this::onStreamEvent);
      }
    } else if (status == 200 && !localReply) {
      // Buffered mode sends the whole body once; guard anyway in case Envoy was configured
      // with BUFFERED_PARTIAL or a mode we did not ask for.
      bufferedResponse = bufferedResponse.concat(message.getBody());
      if (message.getEndOfStream()) {
        readUsage(bufferedResponse.toByteArray());
      }
    }
    return Messages.responseBody(CommonResponse.getDefaultInstance());
  }

  private void onStreamEvent(String data) {
    record.streamEvent();
    if (data.equals("[DONE]") || !data.contains("\"usage\"")) {
      return; // only the final chunk carries usage; skip parsing the rest
    }
    try {
      Usage usage = Usage.from(Json.MAPPER.readTree(data).get("usage"));
      if (usage != null) {
        record.usage(usage);
      }
    } catch (java.io.IOException e) {
      log.debug("unparseable SSE event ignored: {}", e.getMessage());
    }
  }

  private void readUsage(byte[] body) {
    try {
      JsonNode root = Json.MAPPER.readTree(body);
      Usage usage = root == null ? null : Usage.from(root.get("usage"));
      if (usage != null) {
        record.usage(usage);
      }
    } catch (java.io.IOException e) {
      log.debug("backend answered 200 with a body that is not JSON: {}", e.getMessage());
    }
  }

  @Override
  public void end(boolean aborted) {
    gateway.metrics().record(record.finish(aborted));
  }

  private ProcessingResponse reject(ApiError error) {
    record.status(error.status());
    record.outcome("rejected_" + error.code());
    return Messages.immediate(error, Map.of());
  }

  private ProcessingResponse answer(int code, byte[] json, String details) {
    record.status(code);
    record.outcome("answered");
    return Messages.immediate(code, json, details, Map.of());
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

  private static int parseStatus(String status) {
    try {
      return status == null ? 0 : Integer.parseInt(status.trim());
    } catch (NumberFormatException e) {
      return 0;
    }
  }
}
