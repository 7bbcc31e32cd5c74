package dev.weir.extproc.session;

/**
 * Header and metadata names shared by the two passes and by the Envoy config. The x-weir-* request
 * headers are set by the router pass (after authentication, so clients cannot forge them: any
 * client-sent value is removed first) and read by the upstream pass on every attempt.
 */
public final class GatewayHeaders {
  /** Pool chosen for the model; Envoy's route matches it to the pool's cluster. */
  public static final String POOL = dev.weir.config.Wire.POOL_HEADER;
  /** The model the client asked for. */
  public static final String MODEL = "x-weir-model";
  /** The client's :path, kept because the upstream pass rewrites :path for each attempt. */
  public static final String ORIGINAL_PATH = "x-weir-original-path";
  /**
   * The length of the body the router pass forwards. Envoy resends that body on every retry with
   * the headers the previous attempt left, so each attempt restores Content-Length from this.
   */
  public static final String BODY_LENGTH = "x-weir-body-length";
  /** Marks a local reply made by the upstream pass, so the router pass does not take it for a provider's. */
  public static final String LOCAL_REPLY = "x-weir-local-reply";
  /**
   * The exchange span's W3C traceparent, for the upstream pass's attempt spans. Not
   * {@code traceparent} itself: each attempt sets that to its own span for the backend, and Envoy
   * starts a retry from the headers the previous attempt left.
   */
  public static final String TRACE_PARENT = "x-weir-traceparent";
  /**
   * Set on the request the router pass sends as its pool's probe while every member is tripped, so
   * the upstream pass lets a good answer to it end that member's trip early.
   */
  public static final String BREAKER_PROBE = "x-weir-breaker-probe";
  /** Response header: the backend that served the request. */
  public static final String BACKEND = "x-weir-backend";

  /** Every request header the router pass owns and clears from client input. */
  public static final java.util.List<String> INTERNAL =
      java.util.List.of(POOL, MODEL, ORIGINAL_PATH, BODY_LENGTH, LOCAL_REPLY, TRACE_PARENT, BREAKER_PROBE);

  /** The ext_proc request-attributes namespace (Envoy puts every requested attribute under it). */
  public static final String ATTRIBUTES_NAMESPACE = "envoy.filters.http.ext_proc";
  /** The endpoint metadata namespace the control plane writes and the upstream pass reads. */
  public static final String METADATA_NAMESPACE = dev.weir.config.Wire.METADATA_NAMESPACE;
  /** The attribute naming the backend of the host Envoy chose for this attempt. */
  public static final String BACKEND_ATTRIBUTE = dev.weir.config.Wire.BACKEND_ATTRIBUTE;

  private GatewayHeaders() {}
}
