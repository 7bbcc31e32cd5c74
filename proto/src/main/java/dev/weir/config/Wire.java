package dev.weir.config;

/**
 * Names that ext-proc-server, xds-control-plane and the Envoy config must agree on: the pool
 * routing header, the endpoint metadata naming a backend, and the gRPC metadata naming the pass.
 */
public final class Wire {
  /** Request header the router pass sets; the routes match it to the pool's cluster. */
  public static final String POOL_HEADER = "x-weir-pool";
  /** Endpoint metadata namespace written by the control plane. */
  public static final String METADATA_NAMESPACE = "weir";
  /** Key, under {@link #METADATA_NAMESPACE}, naming the endpoint's backend. */
  public static final String BACKEND_KEY = "backend";
  /** The ext_proc attribute path that yields the chosen host's backend name. */
  public static final String BACKEND_ATTRIBUTE =
      "xds.upstream_host_metadata.filter_metadata['" + METADATA_NAMESPACE + "']['" + BACKEND_KEY + "']";
  /** gRPC initial metadata telling ext-proc-server which pass a stream is. */
  public static final String PASS_METADATA = "x-weir-pass";
  public static final String UPSTREAM_PASS = "upstream";
  public static final String ROUTER_PASS = "router";
  /** The bootstrap's static cluster that reaches ext-proc-server. */
  public static final String EXT_PROC_CLUSTER = "weir_ext_proc";
  /** The route configuration the listener asks for over RDS. */
  public static final String ROUTE_CONFIG_NAME = "weir";

  /** The Envoy cluster serving a pool. */
  public static String poolCluster(String pool) {
    return "pool_" + pool;
  }

  /** The MCP server the router pass chose; Envoy's route matches it to the server's cluster. */
  public static final String MCP_SERVER_HEADER = "x-weir-mcp-server";

  /** The Envoy cluster serving an MCP server. */
  public static String mcpCluster(String server) {
    return "mcp_" + server;
  }

  private Wire() {}
}
