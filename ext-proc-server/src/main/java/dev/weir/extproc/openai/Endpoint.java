package dev.weir.extproc.openai;

/**
 * The API operations the gateway serves, by request path: OpenAI's, and Anthropic's Messages API for
 * native Anthropic clients. How each is read (validation, token estimate, usage) is its
 * {@code dev.weir.extproc.dialects.Dialect}.
 */
public enum Endpoint {
  CHAT_COMPLETIONS("/v1/chat/completions", "POST", "/chat/completions"),
  COMPLETIONS("/v1/completions", "POST", "/completions"),
  EMBEDDINGS("/v1/embeddings", "POST", "/embeddings"),
  MODELS("/v1/models", "GET", null),
  /** OpenAI's Responses API; Azure serves it outside the deployment paths (see its adapter). */
  RESPONSES("/v1/responses", "POST", null),
  /** Anthropic's Messages API, for clients that speak it natively (Anthropic SDKs, Claude Code). */
  MESSAGES("/v1/messages", "POST", null);

  private final String path;
  private final String method;
  private final String azureSuffix;

  Endpoint(String path, String method, String azureSuffix) {
    this.path = path;
    this.method = method;
    this.azureSuffix = azureSuffix;
  }

  public String path() {
    return path;
  }

  public String method() {
    return method;
  }

  /** The operation's path under {@code /openai/deployments/{name}} on Azure OpenAI, or null. */
  public String azureSuffix() {
    return azureSuffix;
  }

  /** Whether the operation can answer with an SSE stream ({@code "stream": true}). */
  public boolean canStream() {
    return this == CHAT_COMPLETIONS || this == COMPLETIONS || this == RESPONSES || this == MESSAGES;
  }

  /** The endpoint for a path without its query string; null when we do not serve the path. */
  public static Endpoint forPath(String path) {
    String p = path.endsWith("/") && path.length() > 1 ? path.substring(0, path.length() - 1) : path;
    for (Endpoint e : values()) {
      if (e.path.equals(p)) {
        return e;
      }
    }
    return null;
  }
}
