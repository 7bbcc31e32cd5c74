package dev.weir.extproc.pipeline;

import dev.weir.extproc.GatewayRuntime;
import dev.weir.extproc.auth.Caller;
import dev.weir.extproc.dialects.Dialect;
import dev.weir.extproc.dialects.Dialects;
import dev.weir.extproc.openai.Endpoint;
import dev.weir.extproc.openai.ParsedRequest;
import dev.weir.extproc.telemetry.ExchangeRecord;
import java.util.Map;

/**
 * What the router pass knows about one exchange, filled in by the runner (what Envoy sent) and by
 * the stages (what they decided), phase by phase. One instance per exchange, used by one thread
 * at a time.
 */
public final class ExchangeState {
  private final GatewayRuntime gateway;
  private final ExchangeRecord record;

  private Endpoint endpoint;
  private String path = "/";
  private Map<String, String> requestHeaders = Map.of();
  private boolean bodyless;
  private String clientIp = "";
  private Map<String, String> jwtClaims = Map.of();
  private Caller caller;
  private byte[] requestBody;
  private ParsedRequest.Result parsed;
  private String pool;

  private int status;
  private Map<String, String> responseHeaders = Map.of();
  private boolean responseStarted;
  private boolean responseComplete;
  private boolean streaming;
  private boolean localReply;
  private String backend;
  private final StringBuilder answerText = new StringBuilder();
  private dev.weir.extproc.telemetry.Tracing.ExchangeSpan span = dev.weir.extproc.telemetry.Tracing.ExchangeSpan.NONE;

  public ExchangeState(GatewayRuntime gateway, ExchangeRecord record) {
    this.gateway = gateway;
    this.record = record;
  }

  /** The config and shared services this exchange started with (a reload does not change them). */
  public GatewayRuntime gateway() {
    return gateway;
  }

  /** The exchange's trace span (a no-op when tracing is off). */
  public dev.weir.extproc.telemetry.Tracing.ExchangeSpan span() {
    return span;
  }

  public void span(dev.weir.extproc.telemetry.Tracing.ExchangeSpan s) {
    span = s;
  }

  /** The record that metrics and the audit log are made from at the end. */
  public ExchangeRecord record() {
    return record;
  }

  // --- request (set by the runner) ---

  public Endpoint endpoint() {
    return endpoint;
  }

  /** How this exchange's client API is read and answered (OpenAI's when the path is unknown). */
  public Dialect dialect() {
    return Dialects.of(endpoint);
  }

  /** The client's {@code :path}, query included. */
  public String path() {
    return path;
  }

  /** Request headers, lower-cased names, first value. */
  public Map<String, String> requestHeaders() {
    return requestHeaders;
  }

  /** True when the request headers ended the stream: there is no body. */
  public boolean bodyless() {
    return bodyless;
  }

  /** The client's address as Envoy saw it (for limits keyed by client IP). */
  public String clientIp() {
    return clientIp;
  }

  /** Claims of a JWT verified by Envoy's jwt_authn filter, if any. */
  public Map<String, String> jwtClaims() {
    return jwtClaims;
  }

  /** Replaces the claims with those of a token the gateway validated itself. */
  public void jwtClaims(Map<String, String> claims) {
    jwtClaims = claims;
  }

  /** The raw request body (null before the body phase). */
  public byte[] requestBody() {
    return requestBody;
  }

  /**
   * The body parsed for its endpoint: the request, or the 400 that explains why not. Parsed on
   * first use, so a stage can refuse an oversized body before anyone parses it.
   */
  public ParsedRequest.Result parsed() {
    if (parsed == null && requestBody != null) {
      parsed = ParsedRequest.parse(endpoint, requestBody);
    }
    return parsed;
  }

  /** The parsed request, or null when there is none (yet, or invalid). */
  public ParsedRequest request() {
    return parsed() instanceof ParsedRequest.Ok ok ? ok.request() : null;
  }

  public void requestHeaders(Endpoint e, String fullPath, Map<String, String> headers, boolean endOfStream,
      String clientAddress, Map<String, String> claims) {
    endpoint = e;
    path = fullPath;
    requestHeaders = headers;
    bodyless = endOfStream;
    clientIp = clientAddress;
    jwtClaims = claims;
  }

  public void requestBody(byte[] body) {
    requestBody = body;
    parsed = null;
  }

  // --- decisions (set by stages) ---

  /** The authenticated consumer (set by authentication), or null. */
  public Caller caller() {
    return caller;
  }

  public void caller(Caller c) {
    caller = c;
    record.consumer(c.name());
  }

  /** The pool that serves the requested model (set by model access), or null. */
  public String pool() {
    return pool;
  }

  public void pool(String p) {
    pool = p;
    record.pool(p);
  }

  // --- response (set by the runner) ---

  public int status() {
    return status;
  }

  public Map<String, String> responseHeaders() {
    return responseHeaders;
  }

  /** True once response headers arrived. */
  public boolean responseStarted() {
    return responseStarted;
  }

  /** True once the last piece of the answer was seen. */
  public boolean responseComplete() {
    return responseComplete;
  }

  /** True when the answer is an SSE stream processed event by event. */
  public boolean streaming() {
    return streaming;
  }

  /** True when the answer was made by Envoy or the upstream pass, not by a backend. */
  public boolean localReply() {
    return localReply;
  }

  /** The backend that answered (from the host's metadata), or null. */
  public String backend() {
    return backend;
  }

  /** True when a backend answered 200: the exchange is served and its tokens are due. */
  public boolean served() {
    return status == 200 && !localReply;
  }

  public void responseHeaders(int s, Map<String, String> headers, boolean isStreaming, boolean isLocal,
      String answeredBy) {
    status = s;
    responseHeaders = headers;
    responseStarted = true;
    streaming = isStreaming;
    localReply = isLocal;
    backend = answeredBy;
    record.status(s);
    if (answeredBy != null && !isLocal) {
      record.backend(answeredBy);
    }
  }

  public void responseComplete(boolean complete) {
    responseComplete = complete;
  }

  /**
   * The answer's text as it streamed (content, legacy text, tool-call arguments), kept to count
   * the tokens when the backend reports no usage.
   */
  public StringBuilder answerText() {
    return answerText;
  }
}
