package dev.weir.extproc.safety.scanners;

import dev.weir.config.Credentials;
import dev.weir.config.v1.ContentScanner;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.extproc.backendauth.EntraTokens;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.net.http.HttpClient;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;
import java.util.function.LongSupplier;

/**
 * The config's external scanners by name, each with its credential, circuit breaker and verdict
 * cache; built once per config generation. {@link #check} runs the named scanners on one text in
 * parallel and waits (on the exchange's virtual thread) for every verdict, each bounded by its
 * scanner's timeout. Thread-safe.
 */
public final class ContentScanners {
  /** No scanners configured. */
  public static final ContentScanners NONE = new ContentScanners(Map.of());

  private final Map<String, ExternalScanner> byName;

  private ContentScanners(Map<String, ExternalScanner> byName) {
    this.byName = byName;
  }

  /** The scanners of a config; credentials are read now, so a missing one fails the load. */
  public static ContentScanners of(GatewayConfig config, Function<String, String> env, MeterRegistry registry)
      throws Credentials.UnresolvableCredentialException {
    return of(config.getScannersList(), env, registry, System::nanoTime);
  }

  static ContentScanners of(List<ContentScanner> scanners, Function<String, String> env, MeterRegistry registry,
      LongSupplier nanoTime) throws Credentials.UnresolvableCredentialException {
    if (scanners.isEmpty()) {
      return NONE;
    }
    Map<String, ExternalScanner> byName = new LinkedHashMap<>();
    for (ContentScanner s : scanners) {
      HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofMillis(s.getTimeoutMillis())).build();
      ExternalScanner.Auth auth = auth(s, env);
      byName.put(s.getName(), switch (s.getKind()) {
        case AZURE_CONTENT_SAFETY -> new AzureContentSafety(s, http, auth, registry, nanoTime);
        case OPENAI_MODERATION -> new OpenAiModeration(s, http, auth, registry, nanoTime);
        case WEBHOOK -> new WebhookScanner(s, http, auth, registry, nanoTime);
        default -> throw new IllegalArgumentException("scanner " + s.getName() + " has no kind");
      });
    }
    return new ContentScanners(byName);
  }

  /** As a backend's: a key from env or file, or (Azure) Entra ID tokens. */
  private static ExternalScanner.Auth auth(ContentScanner s, Function<String, String> env)
      throws Credentials.UnresolvableCredentialException {
    if (!s.hasCredential()) {
      return Map::of;
    }
    if (s.getCredential().hasEntra()) {
      EntraTokens tokens = EntraTokens.of("scanner " + s.getName(), s.getCredential().getEntra(), env);
      tokens.warmUp();
      return () -> {
        try {
          return Map.of("Authorization", "Bearer " + tokens.token());
        } catch (EntraTokens.UnavailableException e) {
          throw new IOException(e.getMessage());
        }
      };
    }
    String key = Credentials.resolve(s.getCredential(), env);
    Map<String, String> headers = switch (s.getKind()) {
      case AZURE_CONTENT_SAFETY -> Map.of("Ocp-Apim-Subscription-Key", key);
      default -> Map.of("Authorization", "Bearer " + key);
    };
    return () -> headers;
  }

  public ExternalScanner get(String name) {
    return byName.get(name);
  }

  /** Every named scanner's verdict on the text, in the order named; the calls run in parallel. */
  public List<Verdict> check(List<ExternalScanner> scanners, ScanRequest request) {
    List<CompletableFuture<Verdict>> pending = new ArrayList<>(scanners.size());
    for (ExternalScanner s : scanners) {
      pending.add(s.check(request));
    }
    List<Verdict> out = new ArrayList<>(pending.size());
    for (CompletableFuture<Verdict> f : pending) {
      out.add(f.join());
    }
    return out;
  }

  /**
   * Every scanner's verdict on an answer. Unless the text is already a window (a stream's), each
   * scanner reads it in windows of its {@code windowSize} with its {@code windowOverlap}, all calls
   * in parallel; a scanner's verdict joins its windows' (one failed window fails it).
   */
  public List<Verdict> checkAnswer(List<ExternalScanner> scanners, ScanRequest answer, boolean windowed) {
    List<List<CompletableFuture<Verdict>>> pending = new ArrayList<>(scanners.size());
    for (ExternalScanner s : scanners) {
      List<CompletableFuture<Verdict>> windows = new ArrayList<>();
      List<String> texts = windowed ? List.of(answer.text())
          : ExternalScanner.windows(answer.text(), s.config().getWindowSize(), s.config().getWindowOverlap());
      for (String w : texts) {
        windows.add(s.check(ScanRequest.answer(answer.model(), answer.consumer(), w)));
      }
      pending.add(windows);
    }
    List<Verdict> out = new ArrayList<>(scanners.size());
    for (int i = 0; i < scanners.size(); i++) {
      java.util.Set<String> categories = new java.util.LinkedHashSet<>();
      Verdict failed = null;
      for (CompletableFuture<Verdict> f : pending.get(i)) {
        Verdict v = f.join();
        if (v.failed() && failed == null) {
          failed = v;
        }
        categories.addAll(v.categories());
      }
      out.add(failed != null ? failed : new Verdict(scanners.get(i).name(), new ArrayList<>(categories), null));
    }
    return out;
  }

  /** The scanners with these names that exist (the loader has checked every name). */
  public List<ExternalScanner> named(List<String> names) {
    List<ExternalScanner> out = new ArrayList<>(names.size());
    for (String n : names) {
      ExternalScanner s = byName.get(n);
      if (s != null) {
        out.add(s);
      }
    }
    return out;
  }
}
