package dev.weir.extproc.session;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weir.config.v1.PoolMember;
import dev.weir.extproc.GatewayRuntime;
import dev.weir.extproc.openai.ApiError;
import dev.weir.extproc.openai.Endpoint;
import dev.weir.extproc.openai.Json;
import dev.weir.extproc.routing.BackendTarget;
import dev.weir.extproc.routing.ProviderTranslator;
import dev.weir.extproc.routing.UpstreamPlan;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode;
import io.envoyproxy.envoy.service.ext_proc.v3.CommonResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HeaderMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import java.io.IOException;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The upstream pass over one attempt, run by Envoy in the cluster's upstream filter chain after it
 * chose the host: translates the request for that host's backend and injects its credential.
 *
 * <p>It is stateless across attempts and replicas: everything it needs comes from the attempt's
 * headers (set by the router pass) and the chosen host's metadata. Envoy hands every retry the same
 * request headers, already mutated by the previous attempt, so this pass recomputes everything from
 * the {@code x-weir-*} headers rather than from {@code :path} as it now stands; the body it is sent
 * is always the router's original one.
 */
public final class UpstreamExchange implements Exchange {
  private static final Logger log = LoggerFactory.getLogger(UpstreamExchange.class);
  /** Skips the body round trip when the attempt does not need to rewrite it. */
  private static final ProcessingMode NO_BODY = ProcessingMode.newBuilder()
      .setRequestHeaderMode(ProcessingMode.HeaderSendMode.SEND)
      .setRequestBodyMode(ProcessingMode.BodySendMode.NONE)
      .setResponseHeaderMode(ProcessingMode.HeaderSendMode.SKIP)
      .build();

  private final GatewayRuntime gateway;
  private String bodyModel;

  public UpstreamExchange(GatewayRuntime gateway) {
    this.gateway = gateway;
  }

  @Override
  public ProcessingResponse handle(ProcessingRequest message) {
    return switch (message.getRequestCase()) {
      case REQUEST_HEADERS -> onRequestHeaders(message);
      case REQUEST_BODY -> onRequestBody(message.getRequestBody());
      default -> Messages.continueUnchanged(message);
    };
  }

  private ProcessingResponse onRequestHeaders(ProcessingRequest message) {
    Map<String, String> headers = Messages.headers(message.getRequestHeaders().getHeaders());
    String backendName = Messages.attribute(message, GatewayHeaders.BACKEND_ATTRIBUTE);
    String pool = headers.get(GatewayHeaders.POOL);
    String requestedModel = headers.get(GatewayHeaders.MODEL);
    String originalPath = headers.get(GatewayHeaders.ORIGINAL_PATH);
    if (backendName == null) {
      return fail("the chosen endpoint carries no weir backend metadata; is this cluster programmed"
          + " by xds-control-plane and the attribute " + GatewayHeaders.BACKEND_ATTRIBUTE
          + " requested by the upstream ext_proc filter?");
    }
    if (pool == null || requestedModel == null || originalPath == null) {
      return fail("the request reached the upstream pass without the router pass's headers;"
          + " is the router-level ext_proc filter installed before the router?");
    }
    BackendTarget backend = gateway.routing().backend(backendName);
    PoolMember member = gateway.routing().member(pool, backendName);
    if (backend == null || member == null) {
      return fail("backend \"" + backendName + "\" is not a member of pool \"" + pool
          + "\" in this server's config; are Envoy and ext-proc-server on the same config version?");
    }
    int q = originalPath.indexOf('?');
    Endpoint endpoint = Endpoint.forPath(q < 0 ? originalPath : originalPath.substring(0, q));
    if (endpoint == null || endpoint == Endpoint.MODELS) {
      return fail("the router pass let through a path it does not route: " + originalPath);
    }
    UpstreamPlan plan = ProviderTranslator.plan(endpoint, q < 0 ? null : originalPath.substring(q + 1),
        backend, member, requestedModel);
    HeaderMutation.Builder mutation = HeaderMutation.newBuilder()
        .addSetHeaders(Messages.set(":path", plan.path()));
    plan.setHeaders().forEach((k, v) -> mutation.addSetHeaders(Messages.set(k, v)));
    plan.removeHeaders().forEach(mutation::addRemoveHeaders);
    CommonResponse common = CommonResponse.newBuilder().setHeaderMutation(mutation).build();

    // Envoy re-sends the router's original body (the client's model) on every attempt, but with the
    // headers the previous attempt left: x-weir-body-model and a content-length that describe that
    // attempt's rewritten body. So compare with the client's model, and when an earlier attempt
    // rewrote the body, take the body again so that its content-length is set right.
    String wanted = plan.bodyModel() == null ? requestedModel : plan.bodyModel();
    boolean rewrittenBefore = headers.containsKey(GatewayHeaders.BODY_MODEL);
    if ((wanted.equals(requestedModel) && !rewrittenBefore) || message.getRequestHeaders().getEndOfStream()) {
      return Messages.requestHeaders(common, NO_BODY);
    }
    bodyModel = wanted;
    return Messages.requestHeaders(common);
  }

  private ProcessingResponse onRequestBody(HttpBody message) {
    if (bodyModel == null) {
      return Messages.requestBody(CommonResponse.getDefaultInstance());
    }
    JsonNode root;
    try {
      root = Json.MAPPER.readTree(message.getBody().toByteArray());
    } catch (IOException e) {
      // The router pass validated this body; if it cannot be read now, send it as it is.
      log.warn("upstream pass could not re-read a body the router pass accepted: {}", e.getMessage());
      return Messages.requestBody(CommonResponse.getDefaultInstance());
    }
    if (!(root instanceof ObjectNode object)) {
      return Messages.requestBody(CommonResponse.getDefaultInstance());
    }
    object.put("model", bodyModel);
    byte[] body;
    try {
      body = Json.MAPPER.writeValueAsBytes(object);
    } catch (IOException e) {
      throw new IllegalStateException("a parsed JSON tree always serialises", e);
    }
    HeaderMutation.Builder headers = HeaderMutation.newBuilder()
        .addSetHeaders(Messages.set(GatewayHeaders.BODY_MODEL, bodyModel));
    return Messages.requestBody(Messages.replaceBody(body, headers));
  }

  @Override
  public void end(boolean aborted) {
    // Nothing to account here: the router pass records the exchange once, however many attempts.
  }

  private ProcessingResponse fail(String why) {
    log.error("upstream pass cannot translate this attempt: {}", why);
    return Messages.immediate(ApiError.internal("The gateway is misconfigured and could not forward"
        + " this request; the operator's logs say why."), Map.of(GatewayHeaders.LOCAL_REPLY, "upstream"));
  }
}
