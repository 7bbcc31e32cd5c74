package dev.weir.extproc.routing;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weir.config.v1.StreamUsage;
import dev.weir.extproc.openai.Endpoint;
import dev.weir.extproc.openai.Json;
import dev.weir.extproc.openai.ParsedRequest;
import dev.weir.extproc.pipeline.Decision;
import dev.weir.extproc.pipeline.ExchangeState;
import dev.weir.extproc.pipeline.Mutation;
import dev.weir.extproc.pipeline.Stage;
import dev.weir.extproc.session.GatewayHeaders;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * Points Envoy's route at the model's pool and hands the upstream pass what it needs on every
 * attempt (the {@code x-weir-*} headers, after removing any value the client sent); answers
 * {@code GET /v1/models} itself; names the backend that answered.
 */
public final class RouteStage implements Stage {
  @Override
  public String name() {
    return "route";
  }

  @Override
  public Decision onRequestHeaders(ExchangeState exchange, Mutation mutation) {
    if (exchange.endpoint() == Endpoint.MODELS) {
      return Decision.answer(200, modelList(exchange), Map.of(), "answered");
    }
    // A client-set internal header goes no further than this.
    GatewayHeaders.INTERNAL.forEach(mutation::removeHeader);
    mutation.setHeader(GatewayHeaders.ORIGINAL_PATH, exchange.path());
    return Decision.proceed();
  }

  @Override
  public Decision onRequestBody(ExchangeState exchange, Mutation mutation) {
    ParsedRequest request = exchange.request();
    mutation.setHeader(GatewayHeaders.POOL, exchange.pool())
        .setHeader(GatewayHeaders.MODEL, request.model());
    int bodyLength = exchange.requestBody().length;
    if (request.stream() && exchange.dialect().asksForStreamUsage()
        && !request.body().path("stream_options").path("include_usage").asBoolean(false)
        && exchange.gateway().config().getTokens().getStreamUsage() == StreamUsage.REQUEST) {
      // Ask for the usage chunk so tokens are known exactly; the usage stage hides it from the client.
      ObjectNode body = request.body().deepCopy();
      body.withObject("/stream_options").put("include_usage", true);
      byte[] bytes = body.toString().getBytes(StandardCharsets.UTF_8);
      mutation.replaceBody(bytes);
      bodyLength = bytes.length;
    }
    // Envoy resends the router's body on every retry but keeps the headers the previous attempt's
    // upstream filters left, Content-Length included; the upstream pass restores it from this.
    mutation.setHeader(GatewayHeaders.BODY_LENGTH, Integer.toString(bodyLength));
    // Envoy picked the route before this filter ran; only clear_route_cache makes it match the
    // pool header just set (router-level filter chain, request direction: honoured there).
    mutation.clearRouteCache();
    return Decision.proceed();
  }

  @Override
  public Decision onResponseHeaders(ExchangeState exchange, Mutation mutation) {
    if (exchange.localReply()) {
      mutation.removeHeader(GatewayHeaders.LOCAL_REPLY);
      exchange.record().outcome("gateway_error");
    } else if (exchange.backend() != null) {
      mutation.setHeader(GatewayHeaders.BACKEND, exchange.backend());
    }
    return Decision.proceed();
  }

  private static byte[] modelList(ExchangeState exchange) {
    ObjectNode root = Json.MAPPER.createObjectNode();
    root.put("object", "list");
    ArrayNode data = root.putArray("data");
    for (String model : exchange.gateway().routing().models()) {
      if (exchange.caller().mayUse(model)) {
        ObjectNode m = data.addObject();
        m.put("id", model);
        m.put("object", "model");
        m.put("created", exchange.gateway().startedEpochSeconds());
        m.put("owned_by", "weir");
      }
    }
    return root.toString().getBytes(StandardCharsets.UTF_8);
  }
}
