package dev.weir.extproc.telemetry;

import dev.weir.extproc.openai.Endpoint;
import dev.weir.extproc.openai.Usage;

/** What the router pass learned about one exchange, filled in phase by phase, recorded at its end. */
public final class ExchangeRecord {
  private final long startNanos;
  private Endpoint endpoint;
  private String consumer = "";
  private String model = "";
  private String pool = "";
  private String backend = "";
  private int status;
  private String outcome;
  private Usage usage;
  private int streamEvents;
  private long durationNanos;
  private long estimatedPromptTokens = -1;
  private boolean usageCounted;
  private long costMicros;
  private boolean aborted;

  public ExchangeRecord(long startNanos) {
    this.startNanos = startNanos;
  }

  public void endpoint(Endpoint e) { endpoint = e; }
  public void consumer(String c) { consumer = c; }
  public void model(String m) { model = m; }
  public void pool(String p) { pool = p; }
  public void backend(String b) { backend = b; }
  public void status(int s) { status = s; }
  public void outcome(String o) { outcome = o; }
  public void usage(Usage u) { usage = u; }
  public void streamEvent() { streamEvents++; }
  public void estimatedPromptTokens(long t) { estimatedPromptTokens = t; }
  public void usageCounted() { usageCounted = true; }
  public void costMicros(long c) { costMicros = c; }
  public long estimatedPromptTokens() { return estimatedPromptTokens; }
  /** True when the backend reported no usage and the gateway counted the tokens itself. */
  public boolean isUsageCounted() { return usageCounted; }
  public long costMicros() { return costMicros; }

  public ExchangeRecord finish(boolean wasAborted) {
    durationNanos = System.nanoTime() - startNanos;
    aborted = wasAborted;
    if (outcome == null) {
      // Envoy cancels the ext_proc stream when the client goes away (or the upstream resets, which
      // resets the client's stream too); either way the client did not get the whole answer.
      outcome = aborted ? "client_closed" : status >= 200 && status < 300 ? "served" : "backend_error";
    }
    return this;
  }

  public String endpointName() { return endpoint == null ? "unknown" : endpoint.name().toLowerCase(java.util.Locale.ROOT); }
  public String consumer() { return consumer; }
  public String model() { return model; }
  public String pool() { return pool; }
  public String backend() { return backend; }
  public int status() { return status; }
  public String outcome() { return outcome; }
  public Usage usage() { return usage; }
  public int streamEvents() { return streamEvents; }
  public long durationNanos() { return durationNanos; }
  public boolean aborted() { return aborted; }
}
