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
  private final long startEpochMillis = System.currentTimeMillis();
  private String requestId = "";
  private String keyId = "";
  private String modelServed = "";
  private String provider = "";
  private boolean stream;
  private int attempts;
  private long firstByteNanos;
  private long gatewayNanos;
  private String cache = "";
  private final java.util.List<dev.weir.events.v1.SafetyVerdict> safety = new java.util.ArrayList<>();
  private String limitedBy = "";
  private java.util.Map<String, String> limitHeaders = java.util.Map.of();
  private long cachedSavingsMicros;
  private String prompt = "";
  private String answer = "";
  private boolean contentTruncated;
  private String traceId = "";
  private String spanId = "";

  public ExchangeRecord(long startNanos) {
    this.startNanos = startNanos;
  }

  public void requestId(String id) { requestId = id == null ? "" : id; }
  public void keyId(String id) { keyId = id == null ? "" : id; }
  public void modelServed(String m) { modelServed = m == null ? "" : m; }
  public void provider(String p) { provider = p == null ? "" : p; }
  public void stream(boolean s) { stream = s; }
  public void attempts(int a) { attempts = a; }
  /** The first byte of the answer reached the gateway now (only the first call counts). */
  public void firstByte() {
    if (firstByteNanos == 0) {
      firstByteNanos = System.nanoTime();
    }
  }
  /** Adds time the gateway spent processing one ext_proc message. */
  public void gatewayTime(long nanos) { gatewayNanos += nanos; }
  public void cache(String verdict) { cache = verdict; }
  public void safety(String direction, String category, String action, int count) {
    safety.add(dev.weir.events.v1.SafetyVerdict.newBuilder().setDirection(direction).setCategory(category)
        .setAction(action).setCount(count).build());
  }
  public void limitedBy(String limit) { limitedBy = limit; }
  public void limitHeaders(java.util.Map<String, String> headers) { limitHeaders = headers; }
  public void cachedSavingsMicros(long micros) { cachedSavingsMicros = micros; }
  /** Prompt and answer text for the event (content logging). */
  public void content(String promptText, String answerText, boolean truncated) {
    prompt = promptText;
    answer = answerText;
    contentTruncated = truncated;
  }
  public void trace(String trace, String span) {
    traceId = trace;
    spanId = span;
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
  public long startNanos() { return startNanos; }
  public long startEpochMillis() { return startEpochMillis; }
  public String requestId() { return requestId; }
  public String keyId() { return keyId; }
  public String modelServed() { return modelServed; }
  public String provider() { return provider; }
  public boolean stream() { return stream; }
  public int attempts() { return attempts; }
  /** Nanoseconds from the request's headers to the answer's first byte; 0 when none came. */
  public long timeToFirstByteNanos() { return firstByteNanos == 0 ? 0 : firstByteNanos - startNanos; }
  public long gatewayNanos() { return gatewayNanos; }
  public String cache() { return cache; }
  public java.util.List<dev.weir.events.v1.SafetyVerdict> safety() { return safety; }
  public String limitedBy() { return limitedBy; }
  public java.util.Map<String, String> limitHeaders() { return limitHeaders; }
  public long cachedSavingsMicros() { return cachedSavingsMicros; }
  public String prompt() { return prompt; }
  public String answer() { return answer; }
  public boolean contentTruncated() { return contentTruncated; }
  public String traceId() { return traceId; }
  public String spanId() { return spanId; }
}
