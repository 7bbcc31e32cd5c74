package dev.weir.extproc.openai;

/** The OpenAI API operations the gateway serves, by request path. */
public enum Endpoint {
  CHAT_COMPLETIONS("/v1/chat/completions", "POST", "/chat/completions"),
  COMPLETIONS("/v1/completions", "POST", "/completions"),
  EMBEDDINGS("/v1/embeddings", "POST", "/embeddings"),
  MODELS("/v1/models", "GET", null);

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

  /** The operation's path under {@code /openai/deployments/{name}} on Azure OpenAI. */
  public String azureSuffix() {
    return azureSuffix;
  }

  /** Whether the operation can answer with an SSE stream ({@code "stream": true}). */
  public boolean canStream() {
    return this == CHAT_COMPLETIONS || this == COMPLETIONS;
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
