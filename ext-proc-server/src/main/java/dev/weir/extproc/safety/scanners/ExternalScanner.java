package dev.weir.extproc.safety.scanners;

import com.fasterxml.jackson.databind.JsonNode;
import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.weir.config.v1.ContentScanner;
import dev.weir.extproc.openai.Json;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * One configured external scanner: turns a text into the HTTP calls its service needs, makes them
 * in parallel on {@code java.net.http} (asynchronously: no thread waits on the network) with the
 * scanner's timeout, behind its circuit breaker and verdict cache, and reads the answers into one
 * {@link Verdict}. Subclasses say only what to send and how to read what comes back. Thread-safe.
 */
public abstract class ExternalScanner {
  /** One HTTP call: a path under the scanner's URL (with its query) and a JSON body. */
  record Call(String path, String body) {}

  /** The service answered, but not in the shape its API documents. */
  static final class BadAnswer extends Exception {
    private static final long serialVersionUID = 1L;

    BadAnswer(String message) {
      super(message);
    }
  }

  /** Headers that authenticate a call; may block briefly (an Entra token fetch) and may fail. */
  interface Auth {
    Map<String, String> headers() throws IOException;
  }

  protected final ContentScanner config;
  private final HttpClient http;
  private final Auth auth;
  private final CircuitBreaker breaker;
  /** The cacheSeconds config.proto declares for when it is left out. */
  static final long DEFAULT_CACHE_SECONDS = Long.parseLong(dev.weir.config.Defaults.declared(
      ContentScanner.getDescriptor().findFieldByName("cacheSeconds")).orElseThrow());
  /** Null when cacheSeconds is 0. */
  private final Cache<String, List<String>> verdicts;
  private final MeterRegistry registry;
  private final Timer latency;

  ExternalScanner(ContentScanner config, HttpClient http, Auth auth, MeterRegistry registry,
      java.util.function.LongSupplier nanoTime) {
    this.config = config;
    this.http = http;
    this.auth = auth;
    this.breaker = new CircuitBreaker(config.getCircuitFailures(),
        TimeUnit.SECONDS.toNanos(config.getCircuitOpenSeconds()), nanoTime);
    // Keyed by a hash of the exact call, so a verdict is reused only for the same text and settings,
    // and the cache holds no prompt text. cacheSeconds: 0 means every text is sent (no cache).
    long cacheSeconds = config.hasCacheSeconds() ? config.getCacheSeconds() : DEFAULT_CACHE_SECONDS;
    this.verdicts = cacheSeconds == 0 ? null : Caffeine.newBuilder().maximumSize(10_000).ticker(nanoTime::getAsLong)
        .expireAfterWrite(Duration.ofSeconds(cacheSeconds)).build();
    this.registry = registry;
    this.latency = Timer.builder("weir.safety.scanner.duration").description("External content-safety calls")
        .tag("scanner", config.getName()).publishPercentiles(0.5, 0.99).register(registry);
  }

  public String name() {
    return config.getName();
  }

  public ContentScanner config() {
    return config;
  }

  CircuitBreaker.State circuit() {
    return breaker.state();
  }

  /** The calls checking one text needs (none: nothing for this scanner to read). */
  abstract List<Call> calls(ScanRequest request);

  /** The categories one answer flags (empty: clean). */
  abstract List<String> flagged(Call call, JsonNode answer) throws BadAnswer;

  /** Checks a text: every call in parallel; one failed call fails the verdict. Never completes exceptionally. */
  public CompletableFuture<Verdict> check(ScanRequest request) {
    List<Call> calls = calls(request);
    if (calls.isEmpty()) {
      return CompletableFuture.completedFuture(Verdict.clean(name()));
    }
    List<CompletableFuture<Verdict>> each = new ArrayList<>();
    for (Call c : calls) {
      each.add(call(c));
    }
    return CompletableFuture.allOf(each.toArray(CompletableFuture[]::new)).thenApply(v -> {
      Set<String> categories = new LinkedHashSet<>();
      for (CompletableFuture<Verdict> f : each) {
        Verdict one = f.join();
        if (one.failed()) {
          return one;
        }
        categories.addAll(one.categories());
      }
      return new Verdict(name(), new ArrayList<>(categories), null);
    });
  }

  private CompletableFuture<Verdict> call(Call call) {
    String key = sha256(call.path() + "\n" + call.body());
    List<String> cached = verdicts == null ? null : verdicts.getIfPresent(key);
    if (cached != null) {
      count(cached.isEmpty() ? "clean" : "flagged", true);
      return CompletableFuture.completedFuture(new Verdict(name(), cached, null));
    }
    if (!breaker.allow()) {
      count("circuit_open", false);
      return CompletableFuture.completedFuture(Verdict.failed(name(), "circuit open"));
    }
    HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(join(config.getUrl(), call.path())))
        .timeout(Duration.ofMillis(config.getTimeoutMillis()))
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(call.body(), StandardCharsets.UTF_8));
    try {
      auth.headers().forEach(request::header);
    } catch (IOException e) {
      breaker.failed();
      count("error", false);
      return CompletableFuture.completedFuture(Verdict.failed(name(), "no credential: " + e.getMessage()));
    }
    long started = System.nanoTime();
    return http.sendAsync(request.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8))
        // The request timeout covers the response headers; this also bounds a body that trickles.
        .orTimeout(config.getTimeoutMillis(), TimeUnit.MILLISECONDS)
        .handle((response, error) -> {
          latency.record(System.nanoTime() - started, TimeUnit.NANOSECONDS);
          Verdict v = read(call, response, error);
          if (v.failed()) {
            breaker.failed();
          } else {
            breaker.succeeded();
            if (verdicts != null) {
              verdicts.put(key, v.categories());
            }
          }
          count(v.failed() ? (v.failure().equals("timeout") ? "timeout" : "error") : v.flagged() ? "flagged" : "clean",
              false);
          return v;
        });
  }

  private Verdict read(Call call, HttpResponse<String> response, Throwable error) {
    Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
    if (cause instanceof HttpTimeoutException || cause instanceof TimeoutException) {
      return Verdict.failed(name(), "timeout");
    }
    if (cause != null) {
      return Verdict.failed(name(), cause.getClass().getSimpleName());
    }
    if (response.statusCode() / 100 != 2) {
      return Verdict.failed(name(), "status " + response.statusCode());
    }
    try {
      return new Verdict(name(), flagged(call, Json.MAPPER.readTree(response.body())), null);
    } catch (BadAnswer e) {
      return Verdict.failed(name(), e.getMessage());
    } catch (IOException e) {
      return Verdict.failed(name(), "answer is not JSON");
    }
  }

  private void count(String outcome, boolean cached) {
    Counter.builder("weir.safety.scanner.calls").description("External content-safety calls, by outcome")
        .tag("scanner", name()).tag("outcome", outcome).tag("cached", String.valueOf(cached))
        .register(registry).increment();
  }

  /** {@code text} cut into pieces of at most {@code size} characters, each starting {@code overlap} before the last ended. */
  static List<String> windows(String text, int size, int overlap) {
    if (size <= 0 || text.length() <= size) {
      return List.of(text);
    }
    List<String> out = new ArrayList<>();
    int start = 0;
    while (true) {
      int end = Math.min(text.length(), start + size);
      // Never cut a surrogate pair: the service would read a broken character.
      if (end < text.length() && Character.isHighSurrogate(text.charAt(end - 1))) {
        end--;
      }
      out.add(text.substring(start, end));
      if (end >= text.length()) {
        return out;
      }
      int next = Math.max(start + 1, end - overlap);
      if (Character.isLowSurrogate(text.charAt(next)) && next - 1 > start) {
        next--;
      }
      start = next;
    }
  }

  static String join(String base, String path) {
    return base.endsWith("/") && path.startsWith("/") ? base + path.substring(1) : base + path;
  }

  static String sha256(String s) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
