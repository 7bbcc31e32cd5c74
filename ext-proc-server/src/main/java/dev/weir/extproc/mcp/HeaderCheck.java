package dev.weir.extproc.mcp;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Map;
import java.util.Set;

/**
 * The request-metadata rule of Streamable HTTP revision 2026-07-28 ("Request Metadata" and "Server
 * Validation" in basic/transports/streamable-http.mdx): {@code Mcp-Method} must equal the body's
 * {@code method}, {@code Mcp-Name} its {@code params.name} or {@code params.uri} for tools/call,
 * resources/read and prompts/get (after decoding the {@code =?base64?…?=} form), and
 * {@code MCP-Protocol-Version} the body's {@code _meta} protocol version. A gateway that routes or
 * limits on these headers must not let them disagree with the body the server executes.
 *
 * <p>Session-era requests (revisions up to 2025-11-25) carry none of these headers and are not
 * held to them; a request that carries either of them, or names the stateless revision, is.
 */
final class HeaderCheck {
  static final String STATELESS_REVISION = "2026-07-28";
  private static final Set<String> NAMED = Set.of("tools/call", "resources/read", "prompts/get");
  private static final String VERSION_META = "io.modelcontextprotocol/protocolVersion";

  private HeaderCheck() {}

  /** Why the headers disagree with the body, or null when they agree (or do not apply). */
  static String problem(Map<String, String> headers, JsonRpc.Message m) {
    String version = headers.get("mcp-protocol-version");
    String method = headers.get("mcp-method");
    String name = headers.get("mcp-name");
    // Revision identifiers are dates (YYYY-MM-DD), so they order as strings.
    boolean stateless = version != null && version.compareTo(STATELESS_REVISION) >= 0;
    if (m.method() == null || (!stateless && method == null && name == null)) {
      return null;
    }
    if (method == null) {
      return "Header mismatch: the Mcp-Method header is missing";
    }
    if (!method.equals(m.method())) {
      return "Header mismatch: Mcp-Method header value '" + clip(method) + "' does not match body value '"
          + clip(m.method()) + "'";
    }
    if (NAMED.contains(m.method())) {
      if (name == null) {
        return "Header mismatch: the Mcp-Name header is missing";
      }
      String decoded = decode(name);
      if (decoded == null) {
        return "Header mismatch: the Mcp-Name header is malformed";
      }
      if (!decoded.equals(m.name())) {
        return "Header mismatch: Mcp-Name header value '" + clip(decoded) + "' does not match body value '"
            + clip(String.valueOf(m.name())) + "'";
      }
    }
    if (stateless && m.params() != null) {
      var meta = m.params().path("_meta").path(VERSION_META);
      if (meta.isTextual() && !meta.asText().equals(version)) {
        return "Header mismatch: MCP-Protocol-Version header value '" + clip(version)
            + "' does not match body value '" + clip(meta.asText()) + "'";
      }
    }
    return null;
  }

  /** A header value in plain or {@code =?base64?…?=} form; null when malformed. */
  static String decode(String value) {
    if (value.startsWith("=?base64?") && value.endsWith("?=") && value.length() >= 11) {
      try {
        return new String(Base64.getDecoder().decode(value.substring(9, value.length() - 2)), StandardCharsets.UTF_8);
      } catch (IllegalArgumentException e) {
        return null;
      }
    }
    for (int i = 0; i < value.length(); i++) {
      char c = value.charAt(i);
      if (!(c == '\t' || (c >= 0x20 && c <= 0x7e))) {
        return null;
      }
    }
    return value;
  }

  private static String clip(String s) {
    return s.length() > 64 ? s.substring(0, 64) + "…" : s;
  }
}
