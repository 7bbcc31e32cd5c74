package dev.weir.bench;

import static dev.weir.testkit.ProcessingRequests.post;
import static dev.weir.testkit.ProcessingRequests.requestBody;
import static dev.weir.testkit.ProcessingRequests.responseBody;
import static dev.weir.testkit.ProcessingRequests.responseHeaders;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.weir.config.ApiKeys;
import dev.weir.config.ConfigLoader;
import dev.weir.config.Wire;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.extproc.GatewayRuntime;
import dev.weir.extproc.pipeline.Pipeline;
import dev.weir.extproc.session.RouterExchange;
import dev.weir.extproc.telemetry.GatewayMetrics;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What content safety adds, measured on the router pass itself (fed raw ext_proc messages, as
 * Envoy sends them): a 4 KB chat prompt's request body with every in-process detector on
 * (PII, secrets, a 1,000-term blocklist, a pattern, prompt attacks, tokenize) against the same
 * pipeline without the safety stage; and one streamed answer event of a few tokens, with and
 * without it. Usage: {@code java -cp benchmarks.jar dev.weir.bench.SafetyBenchmark [iterations] [repo]}.
 */
public final class SafetyBenchmark {
  static final String KEY = "sk-weir-bench";
  static final ObjectMapper JSON = new ObjectMapper();

  public static void main(String[] args) throws Exception {
    int n = args.length > 0 ? Integer.parseInt(args[0]) : 20_000;
    Path root = Path.of(args.length > 1 ? args[1] : ".");
    StringBuilder terms = new StringBuilder();
    for (int i = 0; i < 1000; i++) {
      terms.append(i == 0 ? "" : ", ").append("\"codename").append(i).append(" project\"");
    }
    String yaml = """
        backends: [ { name: b, provider: openai-compatible, url: "http://127.0.0.1:1" } ]
        pools: [ { name: p, members: [ { backend: b } ] } ]
        policies:
          safety:
            email: tokenize
            phone: tokenize
            card: mask
            iban: mask
            ssn: mask
            ip: monitor
            secrets: mask
            promptAttack: monitor
            blockedTerms: [ %s ]
            blocklist: monitor
            patterns: [ { name: employee_id, regex: "EMP-[0-9]{6}", action: tokenize } ]
        models: [ { name: m, pool: p } ]
        consumers: [ { name: bench, keys: [ "%s" ], models: [ "*" ] } ]
        """.formatted(terms, ApiKeys.hash(KEY));
    GatewayConfig config = new ConfigLoader(Map.<String, String>of()::get, true).parse(yaml, "bench", null);
    List<String> prompts = prompts(root, 200);
    System.out.printf("JVM %s, %d cores; %d prompts of %d-%d chars%n", Runtime.version(),
        Runtime.getRuntime().availableProcessors(), prompts.size(),
        prompts.stream().mapToInt(String::length).min().orElse(0), prompts.stream().mapToInt(String::length).max().orElse(0));
    try (GatewayRuntime runtime = new GatewayRuntime(config, Map.<String, String>of()::get, new GatewayMetrics())) {
      Pipeline with = only(Set.of("authenticate", "validate", "model-access", "safety"));
      Pipeline without = only(Set.of("authenticate", "validate", "model-access"));
      for (int i = 0; i < n / 4; i++) {
        prompt(runtime, with, prompts.get(i % prompts.size()));
        prompt(runtime, without, prompts.get(i % prompts.size()));
      }
      long[] a = new long[n];
      long[] b = new long[n];
      for (int i = 0; i < n; i++) {
        String p = prompts.get(i % prompts.size());
        a[i] = prompt(runtime, with, p);
        b[i] = prompt(runtime, without, p);
      }
      report("4 KB prompt, request body phase, with safety", a);
      report("4 KB prompt, request body phase, without", b);
      long[] added = new long[n];
      for (int i = 0; i < n; i++) {
        added[i] = Math.max(0, a[i] - b[i]);
      }
      report("4 KB prompt, added by safety (paired difference)", added);
      var rules = runtime.limiter().policies().resolve("bench", "m").safety();
      long[] d = new long[n];
      for (int i = 0; i < n; i++) {
        String p = prompts.get(i % prompts.size());
        long t0 = System.nanoTime();
        var t = dev.weir.extproc.safety.NormalizedText.of(p);
        rules.detectors().scan(t);
        dev.weir.extproc.safety.PromptAttackDetector.standard().score(t.folded());
        d[i] = System.nanoTime() - t0;
      }
      report("4 KB prompt, detectors alone (no JSON, no stage)", d);

      int events = 200;
      List<String> chunks = new ArrayList<>();
      for (int i = 0; i < events; i++) {
        String text = i % 20 == 7 ? "write to <EMAIL_1> or call " : "word" + i + " and some more text ";
        chunks.add("data: " + JSON.createObjectNode().put("object", "chat.completion.chunk").set("choices",
            JSON.createArrayNode().add(JSON.createObjectNode().put("index", 0).set("delta",
                JSON.createObjectNode().put("content", text)))) + "\n\n");
      }
      int streams = Math.max(50, n / events);
      for (int i = 0; i < streams / 2; i++) {
        stream(runtime, with, chunks, null);
        stream(runtime, without, chunks, null);
      }
      long[] sa = new long[streams * events];
      long[] sb = new long[streams * events];
      for (int i = 0; i < streams; i++) {
        long[] x = stream(runtime, with, chunks, new long[events]);
        long[] y = stream(runtime, without, chunks, new long[events]);
        System.arraycopy(x, 0, sa, i * events, events);
        System.arraycopy(y, 0, sb, i * events, events);
      }
      report("streamed event (5 tokens), with safety", sa);
      report("streamed event (5 tokens), without", sb);
    }
  }

  static Pipeline only(Set<String> names) {
    return new Pipeline(Pipeline.standard().entries().stream().filter(e -> names.contains(e.name())).toList());
  }

  static long prompt(GatewayRuntime runtime, Pipeline pipeline, String text) {
    RouterExchange x = new RouterExchange(runtime, pipeline);
    x.handle(post("/v1/chat/completions", KEY));
    String body = JSON.createObjectNode().put("model", "m").set("messages", JSON.createArrayNode()
        .add(JSON.createObjectNode().put("role", "user").put("content", text))).toString();
    var message = requestBody(body);
    long t0 = System.nanoTime();
    x.handle(message);
    return System.nanoTime() - t0;
  }

  /** One streamed answer; each event's handling time into {@code nanos} when given. */
  static long[] stream(GatewayRuntime runtime, Pipeline pipeline, List<String> chunks, long[] nanos) {
    RouterExchange x = new RouterExchange(runtime, pipeline);
    x.handle(post("/v1/chat/completions", KEY));
    x.handle(requestBody("{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":"
        + "\"mail jane@example.org\"}]}"));
    x.handle(responseHeaders(200, "text/event-stream", Wire.BACKEND_ATTRIBUTE, "b"));
    for (int i = 0; i < chunks.size(); i++) {
      var message = responseBody(chunks.get(i), false);
      long t0 = System.nanoTime();
      x.handle(message);
      if (nanos != null && i < nanos.length) {
        nanos[i] = System.nanoTime() - t0;
      }
    }
    x.handle(responseBody("data: [DONE]\n\n", true));
    return nanos;
  }

  /** About 4 KB each: consecutive docs paragraphs with a few values of each kind mixed in. */
  static List<String> prompts(Path root, int count) throws Exception {
    StringBuilder corpus = new StringBuilder();
    try (var docs = Files.list(root.resolve("docs"))) {
      for (Path p : docs.filter(p -> p.toString().endsWith(".md")).sorted().toList()) {
        corpus.append(Files.readString(p)).append('\n');
      }
    }
    String[] values = {"jane.roe@example.org", "+44 20 7946 0958", "4111 1111 1111 1111", "536-22-1234",
        "DE89 3704 0044 0532 0130 00", "203.0.113.77", "AKIAIOSFODNN7EXAMPLE", "EMP-123456"};
    List<String> out = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      int start = (int) ((long) i * 7919 % Math.max(1, corpus.length() - 4096));
      StringBuilder p = new StringBuilder(corpus.substring(start, start + 4096 - 200));
      p.append(" Contact ").append(values[i % values.length]).append(" and ").append(values[(i + 3) % values.length]);
      out.add(p.toString());
    }
    return out;
  }

  static void report(String what, long[] nanos) {
    long[] s = nanos.clone();
    Arrays.sort(s);
    System.out.printf("%-52s p50 %7.3f ms  p99 %7.3f ms  max %7.3f ms  (n=%d)%n", what, s[s.length / 2] / 1e6,
        s[(int) (s.length * 0.99)] / 1e6, s[s.length - 1] / 1e6, s.length);
  }
}
