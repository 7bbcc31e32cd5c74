package dev.weir.extproc.mcp;

import dev.weir.config.v1.McpAccess;
import java.util.List;
import java.util.regex.Pattern;

/**
 * One consumer's tool lists for one MCP server: a tool is usable when some allow entry matches
 * it (no entries: every tool) and no deny entry does. Entries are names or patterns in which
 * {@code *} matches any run of characters; nothing else is special.
 */
public final class ToolPolicy {
  private final List<Pattern> allow;
  private final List<Pattern> deny;
  private final long callsPerMinute;

  ToolPolicy(McpAccess access) {
    this.allow = access.getAllowList().stream().map(ToolPolicy::glob).toList();
    this.deny = access.getDenyList().stream().map(ToolPolicy::glob).toList();
    this.callsPerMinute = access.getCallsPerMinute();
  }

  public boolean allows(String tool) {
    if (tool == null) {
      return false;
    }
    boolean allowed = allow.isEmpty() || allow.stream().anyMatch(p -> p.matcher(tool).matches());
    return allowed && deny.stream().noneMatch(p -> p.matcher(tool).matches());
  }

  /** Calls per minute to each tool for this consumer; 0 when unlimited. */
  public long callsPerMinute() {
    return callsPerMinute;
  }

  static Pattern glob(String pattern) {
    List<String> parts = List.of(pattern.split("\\*", -1));
    return Pattern.compile(String.join(".*", parts.stream().map(Pattern::quote).toList()), Pattern.DOTALL);
  }
}
