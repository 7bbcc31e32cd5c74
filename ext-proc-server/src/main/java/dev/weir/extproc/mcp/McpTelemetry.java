package dev.weir.extproc.mcp;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Metrics and the audit line of MCP exchanges. Every label is bounded: servers and consumers come
 * from the config, tools from the config or the servers' own tools/list answers (else
 * {@code other}), methods from the MCP specification's list (else {@code other}).
 */
public final class McpTelemetry {
  private static final Logger audit = LoggerFactory.getLogger("weir.audit");
  /** The methods of the MCP revisions Weir speaks, client to server. */
  private static final Set<String> METHODS = Set.of("initialize", "ping", "tools/list", "tools/call",
      "resources/list", "resources/read", "resources/templates/list", "resources/subscribe",
      "resources/unsubscribe", "prompts/list", "prompts/get", "completion/complete", "logging/setLevel",
      "subscriptions/listen", "notifications/initialized", "notifications/cancelled",
      "notifications/roots/list_changed", "notifications/progress");

  /** One finished MCP exchange. */
  public record Record(String server, String consumer, String method, String tool, String outcome, int status,
      long requestBytes, long responseBytes, long durationNanos) {}

  private final MeterRegistry registry;

  public McpTelemetry(MeterRegistry registry) {
    this.registry = registry;
  }

  static String methodLabel(String method) {
    return method == null ? "none" : METHODS.contains(method) ? method : "other";
  }

  /** {@code tool} and {@code consumer} must already be label-safe (see {@link McpServers}). */
  public void record(Record r) {
    String method = methodLabel(r.method());
    Counter.builder("weir.mcp.requests").description("MCP requests through the gateway, by outcome")
        .tag("server", r.server()).tag("consumer", r.consumer()).tag("method", method).tag("tool", r.tool())
        .tag("outcome", r.outcome()).register(registry).increment();
    Timer.builder("weir.mcp.request.duration")
        .description("Time from an MCP request's headers reaching the gateway to the end of its answer")
        .tag("server", r.server()).tag("method", method).tag("tool", r.tool()).tag("outcome", r.outcome())
        .register(registry).record(r.durationNanos(), TimeUnit.NANOSECONDS);
    DistributionSummary.builder("weir.mcp.bytes").description("MCP message bytes, by direction").baseUnit("bytes")
        .tag("server", r.server()).tag("direction", "request").register(registry).record(r.requestBytes());
    DistributionSummary.builder("weir.mcp.bytes").description("MCP message bytes, by direction").baseUnit("bytes")
        .tag("server", r.server()).tag("direction", "response").register(registry).record(r.responseBytes());
  }

  /** The audit line: the raw tool name (a log field, not a label). */
  public void audit(Record r, String rawTool) {
    if (audit.isInfoEnabled()) {
      audit.info("mcp server={} consumer={} method={} tool={} status={} outcome={} request_bytes={} response_bytes={}"
              + " duration_ms={}", r.server(), r.consumer(), r.method(), rawTool == null ? "" : rawTool, r.status(),
          r.outcome(), r.requestBytes(), r.responseBytes(), r.durationNanos() / 1_000_000);
    }
  }
}
