package dev.weir.extproc.session;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weir.config.v1.PoolMember;
import dev.weir.extproc.GatewayRuntime;
import dev.weir.extproc.openai.ApiError;
import dev.weir.extproc.openai.Endpoint;
import dev.weir.extproc.openai.Json;
import dev.weir.extproc.providers.Attempt;
import dev.weir.extproc.providers.AttemptPlan;
import dev.weir.extproc.providers.CredentialUnavailableException;
import dev.weir.extproc.providers.ProviderAdapter;
import dev.weir.extproc.providers.ProviderAdapters;
import dev.weir.extproc.routing.BackendTarget;
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
 * chose the host: the backend's {@link ProviderAdapter} plans the attempt (path, credential,
 * headers, body) for that host.
 *
 * <p>It is stateless across attempts and replicas: everything it needs comes from the attempt's
 * headers (set by the router pass) and the chosen host's metadata. On a retry Envoy sends the
 * headers as the previous attempt's upstream filters left them but the router's original body
 * (Envoy's {@code UpstreamRequest} re-encodes {@code downstreamHeaders()} and
 * {@code Router::doRetry} copies the decoding buffer). So each attempt recomputes {@code :path}
 * from {@code x-weir-original-path}, restores {@code Content-Length} from
 * {@code x-weir-body-length} and, when it must change the body, rewrites it from the client's.
 */
public final class UpstreamExchange implements Exchange {
  private static final Logger log = LoggerFactory.getLogger(UpstreamExchange.class);
  /** Skips the body round trip when the attempt does not need to rewrite it. */
  private static final ProcessingMode NO_BODY = ProcessingMode.newBuilder()
      .setRequestHeaderMode(ProcessingMode.HeaderSendMode.SEND)
      .setRequestBodyMode(ProcessingMode.BodySendMode.NONE)
      .setResponseHeaderMode(ProcessingMode.HeaderSendMode.SKIP)
      .build();
  /**
   * The same for a pool with a breaker, whose filter sends response headers: a mode override
   * replaces the whole mode (processor_state.cc), so it must keep asking for them.
   */
  private static final ProcessingMode NO_BODY_WATCHED = NO_BODY.toBuilder()
      .setResponseHeaderMode(ProcessingMode.HeaderSendMode.SEND).build();

  private final GatewayRuntime gateway;
  private ProviderAdapter adapter;
  private Attempt attempt;
  private io.opentelemetry.api.trace.Span attemptSpan = io.opentelemetry.api.trace.Span.getInvalid();
  private String pool;
  private boolean probe;

  public UpstreamExchange(GatewayRuntime gateway) {
    this.gateway = gateway;
  }

  @Override
  public ProcessingResponse handle(ProcessingRequest message) {
    return switch (message.getRequestCase()) {
      case REQUEST_HEADERS -> onRequestHeaders(message);
      case REQUEST_BODY -> onRequestBody(message.getRequestBody());
      case RESPONSE_HEADERS -> onResponseHeaders(message);
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
    this.pool = pool;
    this.probe = headers.containsKey(GatewayHeaders.BREAKER_PROBE);
    attempt = new Attempt(endpoint, q < 0 ? null : originalPath.substring(q + 1), backend, member, requestedModel);
    adapter = ProviderAdapters.of(backend.provider());
    if (!adapter.serves(endpoint)) {
      // Not retried elsewhere: Envoy sends an upstream filter's local reply to the client.
      return Messages.immediate(ApiError.badRequest("unsupported_endpoint", "Model `" + requestedModel
          + "` is served by backend \"" + backendName + "\", which cannot answer " + endpoint.path() + "."),
          Map.of(GatewayHeaders.LOCAL_REPLY, "upstream"));
    }
    AttemptPlan plan;
    try {
      plan = adapter.plan(attempt);
    } catch (CredentialUnavailableException e) {
      log.error("upstream pass cannot authenticate to backend: {}", e.getMessage());
      return Messages.immediate(new ApiError(503, "server_error", "backend_credential_unavailable",
          "The gateway could not obtain a credential for backend \"" + backendName + "\"; try again shortly."),
          Map.of(GatewayHeaders.LOCAL_REPLY, "upstream"));
    }
    HeaderMutation.Builder mutation = HeaderMutation.newBuilder()
        .addSetHeaders(Messages.set(":path", plan.path()));
    // The attempt's span: a child of the router pass's exchange span, the parent of the backend's.
    String parent = headers.get(GatewayHeaders.TRACE_PARENT);
    attemptSpan = gateway.telemetry().tracing().startAttempt(parent == null ? Map.of() : Map.of("traceparent", parent),
        backendName,
        backend.provider().name().toLowerCase(java.util.Locale.ROOT).replace('_', '-'), requestedModel);
    dev.weir.extproc.telemetry.Tracing.headersFor(attemptSpan).forEach((k, v) -> mutation.addSetHeaders(Messages.set(k, v)));
    plan.setHeaders().forEach((k, v) -> mutation.addSetHeaders(Messages.set(k, v)));
    plan.removeHeaders().forEach(mutation::addRemoveHeaders);
    boolean bodyless = message.getRequestHeaders().getEndOfStream();
    if (plan.rewritesBody() && !bodyless) {
      // Content-Length follows in the body answer, with the rewritten body.
      return Messages.requestHeaders(CommonResponse.newBuilder().setHeaderMutation(mutation).build());
    }
    String bodyLength = headers.get(GatewayHeaders.BODY_LENGTH);
    if (bodyLength != null) {
      // A previous attempt may have rewritten the body and its length; this one sends the original.
      mutation.addSetHeaders(Messages.set("content-length", bodyLength));
    }
    attemptSpan.end();
    return Messages.requestHeaders(CommonResponse.newBuilder().setHeaderMutation(mutation).build(),
        gateway.breakers().watches(pool) ? NO_BODY_WATCHED : NO_BODY);
  }

  /**
   * This attempt's answer, before Envoy decides on a retry: the breaker counts it against the
   * backend that gave it (the filter runs once per attempt, so this is that attempt's backend).
   */
  private ProcessingResponse onResponseHeaders(ProcessingRequest message) {
    if (attempt != null) {
      Map<String, String> headers = Messages.headers(message.getResponseHeaders().getHeaders());
      int status;
      try {
        status = Integer.parseInt(headers.getOrDefault(":status", ""));
      } catch (NumberFormatException e) {
        status = 0;
      }
      if (status > 0) {
        gateway.breakers().observe(pool, attempt.backend().name(), status, headers, probe);
      }
    }
    return Messages.continueUnchanged(message);
  }

  private ProcessingResponse onRequestBody(HttpBody message) {
    if (adapter == null) {
      return Messages.requestBody(CommonResponse.getDefaultInstance());
    }
    JsonNode root;
    try {
      root = Json.MAPPER.readTree(message.getBody().toByteArray());
    } catch (IOException e) {
      return fail("the upstream pass could not re-read a body the router pass accepted: " + e.getMessage());
    }
    if (!(root instanceof ObjectNode clientBody)) {
      return fail("the upstream pass received a body that is not a JSON object");
    }
    byte[] body;
    // Envoy still holds the request headers while it buffers the body, so a BUFFERED body answer's
    // header mutation applies to them (ProcessorState::handleBodyResponse in
    // source/extensions/filters/http/ext_proc/processor_state.cc, BufferedBodyCallback).
    HeaderMutation.Builder headers = HeaderMutation.newBuilder();
    try {
      body = adapter.rewriteBody(attempt, clientBody);
      adapter.headersForBody(attempt, clientBody, body).forEach((k, v) -> headers.addSetHeaders(Messages.set(k, v)));
    } catch (IllegalStateException e) {
      return fail(e.getMessage());
    }
    attemptSpan.end();
    return Messages.requestBody(Messages.replaceBody(body, headers));
  }

  @Override
  public void end(boolean aborted) {
    // Nothing to account here: the router pass records the exchange once, however many attempts.
    // The attempt's span covers the gateway's preparation of it; ending twice is a no-op.
    attemptSpan.end();
  }

  private ProcessingResponse fail(String why) {
    log.error("upstream pass cannot translate this attempt: {}", why);
    return Messages.immediate(ApiError.internal("The gateway is misconfigured and could not forward"
        + " this request; the operator's logs say why."), Map.of(GatewayHeaders.LOCAL_REPLY, "upstream"));
  }
}
