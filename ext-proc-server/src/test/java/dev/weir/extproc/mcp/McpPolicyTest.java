package dev.weir.extproc.mcp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.v1.McpAccess;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Tool lists, the stateless revision's header rule and SSE event rewriting, each on its own. */
class McpPolicyTest {
  @Test
  void allowPatternsAdmitAndDenyPatternsWin() {
    ToolPolicy p = new ToolPolicy(McpAccess.newBuilder().addAllow("search_*").addAllow("get_issue")
        .addDeny("*_private").build());
    assertTrue(p.allows("search_issues"));
    assertTrue(p.allows("get_issue"));
    assertFalse(p.allows("get_issues"));
    assertFalse(p.allows("search_private"));
    assertFalse(p.allows("delete_repo"));
    assertFalse(p.allows(null));
    // Regex characters in a tool name are literal.
    assertFalse(new ToolPolicy(McpAccess.newBuilder().addAllow("a.c").build()).allows("abc"));
    assertTrue(new ToolPolicy(McpAccess.getDefaultInstance()).allows("anything"));
  }

  private static JsonRpc.Message call(String name) throws Exception {
    return JsonRpc.parse(("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"" + name
        + "\"}}").getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void sessionEraRequestsWithoutMetadataHeadersPass() throws Exception {
    assertNull(HeaderCheck.problem(Map.of("mcp-protocol-version", "2025-06-18"), call("x")));
    assertNull(HeaderCheck.problem(Map.of(), call("x")));
  }

  @Test
  void theStatelessRevisionNeedsMatchingHeaders() throws Exception {
    var v = "2026-07-28";
    assertNull(HeaderCheck.problem(Map.of("mcp-protocol-version", v, "mcp-method", "tools/call", "mcp-name", "x"), call("x")));
    assertTrue(HeaderCheck.problem(Map.of("mcp-protocol-version", v), call("x")).contains("Mcp-Method header is missing"));
    assertTrue(HeaderCheck.problem(Map.of("mcp-protocol-version", v, "mcp-method", "tools/call"), call("x"))
        .contains("Mcp-Name header is missing"));
    assertTrue(HeaderCheck.problem(Map.of("mcp-protocol-version", v, "mcp-method", "tools/call", "mcp-name", "y"),
        call("x")).contains("'y' does not match body value 'x'"));
    // Any revision: a request carrying the headers is held to them.
    assertTrue(HeaderCheck.problem(Map.of("mcp-method", "tools/list"), call("x")).contains("Mcp-Method"));
    assertEquals("Hello, 世界", HeaderCheck.decode("=?base64?SGVsbG8sIOS4lueVjA==?="));
    assertNull(HeaderCheck.decode("=?base64?not base64!?="));
  }

  @Test
  void aRewrittenSseEventKeepsItsIdAndEventLines() {
    byte[] raw = "event: message\r\nid: 42\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\n".getBytes(StandardCharsets.UTF_8);
    assertEquals("event: message\nid: 42\ndata: {\"b\":2}\n\n",
        new String(McpExchange.withData(raw, "{\"b\":2}"), StandardCharsets.UTF_8));
  }
}
