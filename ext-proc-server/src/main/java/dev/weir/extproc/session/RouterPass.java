package dev.weir.extproc.session;

import dev.weir.extproc.GatewayRuntime;
import dev.weir.extproc.mcp.McpExchange;
import dev.weir.extproc.mcp.McpServers;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import java.util.Map;

/**
 * The router pass of one exchange, before it knows which API it serves: the request headers'
 * path and host pick MCP ({@link McpExchange}, for a configured MCP server) or the model API
 * ({@link RouterExchange}); every later message goes to the one picked.
 */
public final class RouterPass implements Exchange {
  private final GatewayRuntime gateway;
  private Exchange delegate;

  public RouterPass(GatewayRuntime gateway) {
    this.gateway = gateway;
  }

  @Override
  public ProcessingResponse handle(ProcessingRequest request) {
    if (delegate == null) {
      delegate = pick(request);
    }
    return delegate.handle(request);
  }

  private Exchange pick(ProcessingRequest request) {
    if (request.hasRequestHeaders() && gateway.mcp().any()) {
      Map<String, String> headers = Messages.headers(request.getRequestHeaders().getHeaders());
      String path = headers.getOrDefault(":path", "/");
      int q = path.indexOf('?');
      McpServers.Target target = gateway.mcp().resolve(q < 0 ? path : path.substring(0, q), headers.get(":authority"));
      if (target != null) {
        return new McpExchange(gateway, target);
      }
    }
    return new RouterExchange(gateway);
  }

  @Override
  public void end(boolean aborted) {
    if (delegate != null) {
      delegate.end(aborted);
    }
  }
}
