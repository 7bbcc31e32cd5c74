package dev.weir.bench;

import dev.weir.config.ApiKeys;
import dev.weir.config.ConfigLoader;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.extproc.ExtProcServer;
import dev.weir.testkit.AnthropicDialect;
import dev.weir.testkit.ExchangeRequest;
import dev.weir.testkit.ExchangeResponse;
import dev.weir.testkit.ScriptedUpstream;
import dev.weir.testkit.TestEnvoy;
import dev.weir.xds.EnvoyResources;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * What translating a stream costs: the same streamed chat completion of 500 tokens (500 content
 * events) through the whole gateway (test-kit Envoy, real ext-proc-server), once from an
 * OpenAI-speaking backend (passed through) and once from an Anthropic backend (every event
 * translated to an OpenAI chunk). Interleaved in rounds so machine drift hits both alike.
 * Usage: {@code java -cp benchmarks/target/benchmarks.jar dev.weir.bench.TranslationBenchmark [exchanges] [repo]}.
 */
public final class TranslationBenchmark {
  static final String KEY = "sk-weir-bench";
  static final int TOKENS = 500;

  public static void main(String[] args) throws Exception {
    int exchanges = args.length > 0 ? Integer.parseInt(args[0]) : 2_000;
    int warmup = Math.max(300, exchanges / 5);
    Path root = Path.of(args.length > 1 ? args[1] : ".");
    List<String> parts = new ArrayList<>();
    StringBuilder text = new StringBuilder();
    for (int i = 0; i < TOKENS; i++) {
      parts.add(" tok" + i);
      text.append(" tok").append(i);
    }
    try (ScriptedUpstream openai = new ScriptedUpstream("openai");
        ScriptedUpstream claude = new ScriptedUpstream("claude")) {
      List<String> openAiChunks = ScriptedUpstream.chatChunks("m", text.toString().substring(1), true);
      openai.fallback(new ScriptedUpstream.Sse(openAiChunks, Duration.ZERO));
      claude.fallback(new ScriptedUpstream.Sse(AnthropicDialect.textEvents("claude-x", parts, 20), Duration.ZERO));
      String yaml = """
          backends:
            - { name: openai, provider: openai-compatible, url: %s }
            - { name: claude, provider: anthropic, url: %s, credential: { env: ANTHROPIC_KEY } }
          pools:
            - { name: openai, members: [ { backend: openai } ] }
            - { name: claude, members: [ { backend: claude } ] }
          models:
            - { name: plain, pool: openai }
            - { name: translated, pool: claude }
          consumers:
            - { name: bench, keys: [ "%s" ], models: [ "*" ] }
          """.formatted(openai.url(), claude.url(), ApiKeys.hash(KEY));
      Map<String, String> env = Map.of("ANTHROPIC_KEY", "k");
      GatewayConfig config = new ConfigLoader(env::get, true).parse(yaml, "bench", null);
      EnvoyResources.Resources resources = EnvoyResources.build(config);
      try (ExtProcServer weir = new ExtProcServer(config, env::get, "127.0.0.1", 0, 0);
          TestEnvoy envoy = ExchangeLatencyBenchmark.envoy(weir.grpcPort(),
              ExchangeLatencyBenchmark.routerFilter(root.resolve("envoy/envoy.yaml")), resources,
              resources.routes().get(0))) {
        ExchangeRequest plain = request("plain");
        ExchangeRequest translated = request("translated");
        check(envoy.send(plain));
        check(envoy.send(translated));
        for (int i = 0; i < warmup; i++) {
          envoy.send(plain);
          envoy.send(translated);
        }
        long[] plainNanos = new long[exchanges];
        long[] translatedNanos = new long[exchanges];
        int round = 100;
        for (int start = 0; start < exchanges; start += round) {
          int end = Math.min(exchanges, start + round);
          for (int i = start; i < end; i++) {
            long t0 = System.nanoTime();
            check(envoy.send(plain));
            plainNanos[i] = System.nanoTime() - t0;
          }
          for (int i = start; i < end; i++) {
            long t0 = System.nanoTime();
            check(envoy.send(translated));
            translatedNanos[i] = System.nanoTime() - t0;
          }
        }
        Arrays.sort(plainNanos);
        Arrays.sort(translatedNanos);
        System.out.printf("streamed exchanges of %d tokens per side: %d (after %d warm-up each), JVM %s, %d cores%n",
            TOKENS, exchanges, warmup, Runtime.version(), Runtime.getRuntime().availableProcessors());
        System.out.println("| backend | median µs | p90 µs | p99 µs |");
        System.out.println("|---|---:|---:|---:|");
        row("OpenAI-compatible (passed through)", plainNanos);
        row("Anthropic (translated to OpenAI chunks)", translatedNanos);
        System.out.printf("| **added by translation** | **%d** | **%d** | **%d** |%n",
            (ExchangeLatencyBenchmark.pct(translatedNanos, 50) - ExchangeLatencyBenchmark.pct(plainNanos, 50)) / 1000,
            (ExchangeLatencyBenchmark.pct(translatedNanos, 90) - ExchangeLatencyBenchmark.pct(plainNanos, 90)) / 1000,
            (ExchangeLatencyBenchmark.pct(translatedNanos, 99) - ExchangeLatencyBenchmark.pct(plainNanos, 99)) / 1000);
      }
    }
  }

  private static ExchangeRequest request(String model) {
    return ExchangeRequest.post("/v1/chat/completions", "{\"model\":\"" + model + "\",\"stream\":true,"
        + "\"messages\":[{\"role\":\"user\",\"content\":\"Count to five hundred.\"}]}", "authorization", "Bearer " + KEY);
  }

  private static void row(String name, long[] sorted) {
    System.out.printf("| %s | %d | %d | %d |%n", name, ExchangeLatencyBenchmark.pct(sorted, 50) / 1000,
        ExchangeLatencyBenchmark.pct(sorted, 90) / 1000, ExchangeLatencyBenchmark.pct(sorted, 99) / 1000);
  }

  private static void check(ExchangeResponse r) {
    String body = r.bodyText();
    if (r.status() != 200 || !body.contains("tok499") || !body.contains("[DONE]")) {
      throw new IllegalStateException("benchmark exchange failed: " + r.status() + " " + body.substring(0,
          Math.min(300, body.length())));
    }
  }
}
