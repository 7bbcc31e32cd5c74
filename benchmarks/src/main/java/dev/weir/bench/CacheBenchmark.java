package dev.weir.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.weir.config.v1.CacheSettings;
import dev.weir.extproc.cache.CacheKey;
import dev.weir.extproc.cache.CachedAnswer;
import dev.weir.extproc.cache.Embedder;
import dev.weir.extproc.cache.HitVerifier;
import dev.weir.extproc.cache.LuceneSemanticTier;
import dev.weir.extproc.cache.ResponseCache;
import dev.weir.extproc.cache.SemanticTier;
import dev.weir.extproc.openai.Endpoint;
import dev.weir.extproc.openai.ParsedRequest;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * The response cache measured: accuracy of the semantic tier on QQP (cache {@code a}, look up
 * {@code b}) at the shipped defaults and of plain cosine at 0.80, 0.90 and 0.95; exact and semantic
 * lookup latency with 100,000 entries in one partition; the index's memory. Usage:
 * {@code java -cp benchmarks.jar dev.weir.bench.CacheBenchmark [qqp-dev.jsonl] [entries] [lookups]}.
 */
public final class CacheBenchmark {
  public static void main(String[] args) throws Exception {
    Path qqp = Path.of(args.length > 0 ? args[0] : "/work/shared/data/qqp-dev.jsonl");
    int entries = args.length > 1 ? Integer.parseInt(args[1]) : 100_000;
    int lookups = args.length > 2 ? Integer.parseInt(args[2]) : 500;
    System.out.printf("JVM %s, %d cores%n%n", Runtime.version(), Runtime.getRuntime().availableProcessors());
    ObjectMapper json = new ObjectMapper();
    List<String[]> pairs = new ArrayList<>();
    List<Boolean> duplicate = new ArrayList<>();
    for (String line : Files.readAllLines(qqp)) {
      JsonNode n = json.readTree(line);
      pairs.add(new String[] {n.get("a").asText(), n.get("b").asText()});
      duplicate.add(n.get("duplicate").asBoolean());
    }
    try (Embedder embedder = new Embedder(1)) {
      float[][] a = new float[pairs.size()][];
      float[][] b = new float[pairs.size()][];
      long t0 = System.nanoTime();
      for (int i = 0; i < pairs.size(); i++) {
        a[i] = embedder.embedHere(pairs.get(i)[0]);
        b[i] = embedder.embedHere(pairs.get(i)[1]);
      }
      System.out.printf("embedded %d prompts in %.1f s%n%n", 2 * pairs.size(), (System.nanoTime() - t0) / 1e9);
      accuracy(pairs, duplicate, a, b, embedder);
      latency(pairs, a, b, embedder, entries, lookups);
    }
  }

  static void accuracy(List<String[]> pairs, List<Boolean> duplicate, float[][] a, float[][] b, Embedder embedder) {
    HitVerifier verifier = new HitVerifier(HitVerifier.DEFAULT_MAX_DIFFERENT_WORDS);
    System.out.println("| rule | hits | precision | recall |");
    System.out.println("| --- | --- | --- | --- |");
    for (double t : new double[] {0.80, 0.90, 0.95}) {
      row(String.format(Locale.ROOT, "plain cosine >= %.2f", t), pairs, duplicate, a, b, t, null);
    }
    for (double t : new double[] {0.85, 0.90, 0.95}) {
      row(String.format(Locale.ROOT, "cosine >= %.2f + verifier%s", t, t == 0.90 ? " (shipped default)" : ""),
          pairs, duplicate, a, b, t, verifier);
    }
    // The shipped default through the real index (one partition per pair), as a lookup runs it.
    try (LuceneSemanticTier tier = new LuceneSemanticTier(embedder, verifier, 5_000)) {
      int hits = 0;
      int right = 0;
      int dups = 0;
      for (int i = 0; i < pairs.size(); i++) {
        tier.index("p" + i, "k", pairs.get(i)[0], a[i]);
      }
      for (int i = 0; i < pairs.size(); i++) {
        dups += duplicate.get(i) ? 1 : 0;
        if (tier.find("p" + i, pairs.get(i)[1], b[i], 0.90, true) != null) {
          hits++;
          right += duplicate.get(i) ? 1 : 0;
        }
      }
      System.out.printf(Locale.ROOT, "| shipped default through the Lucene index | %d | %.3f | %.3f |%n%n", hits,
          hits == 0 ? 0 : (double) right / hits, (double) right / dups);
    }
  }

  static void row(String name, List<String[]> pairs, List<Boolean> duplicate, float[][] a, float[][] b, double t,
      HitVerifier verifier) {
    int hits = 0;
    int right = 0;
    int dups = 0;
    for (int i = 0; i < pairs.size(); i++) {
      dups += duplicate.get(i) ? 1 : 0;
      if (dot(a[i], b[i]) >= t && (verifier == null || verifier.accepts(pairs.get(i)[0], pairs.get(i)[1]))) {
        hits++;
        right += duplicate.get(i) ? 1 : 0;
      }
    }
    System.out.printf(Locale.ROOT, "| %s | %d | %.3f | %.3f |%n", name, hits, hits == 0 ? 0 : (double) right / hits,
        (double) right / dups);
  }

  static double dot(float[] x, float[] y) {
    double s = 0;
    for (int i = 0; i < x.length; i++) {
      s += x[i] * y[i];
    }
    return s;
  }

  /**
   * One partition of {@code entries}: the QQP {@code a} prompts with their real embeddings, and
   * the rest as those embeddings plus small noise (embedding 100,000 distinct prompts would take
   * the model ~15 minutes here; the index and the search do not care where vectors come from).
   */
  static void latency(List<String[]> pairs, float[][] a, float[][] b, Embedder embedder, int entries, int lookups)
      throws Exception {
    Random random = new Random(42);
    HitVerifier verifier = new HitVerifier(HitVerifier.DEFAULT_MAX_DIFFERENT_WORDS);
    try (LuceneSemanticTier tier = new LuceneSemanticTier(embedder, verifier, 5_000);
        ResponseCache cache = new ResponseCache(CacheSettings.newBuilder().setMaxEntries(entries + 10)
            .setMaxEntryBytes(1 << 20).setEmbeddingThreads(1).build(), null, SemanticTier.NONE)) {
      String partition = "bench";
      long t0 = System.nanoTime();
      List<CacheKey> keys = new ArrayList<>();
      ObjectMapper json = new ObjectMapper();
      for (int i = 0; i < entries; i++) {
        int src = i % pairs.size();
        float[] v = a[src];
        String text = pairs.get(src)[0];
        if (i >= pairs.size()) {
          v = v.clone();
          double norm = 0;
          for (int k = 0; k < v.length; k++) {
            v[k] += (float) (random.nextGaussian() * 0.02);
            norm += v[k] * v[k];
          }
          for (int k = 0; k < v.length; k++) {
            v[k] /= (float) Math.sqrt(norm);
          }
          text = text + " (variant " + i + ")";
        }
        tier.index(partition, "k" + i, text, v);
        var body = (com.fasterxml.jackson.databind.node.ObjectNode) json.readTree(
            "{\"model\":\"m\",\"temperature\":0,\"messages\":[{\"role\":\"user\",\"content\":"
                + json.writeValueAsString(text) + "}]}");
        CacheKey key = CacheKey.of(new ParsedRequest(Endpoint.CHAT_COMPLETIONS, body, "m", false), "m",
            List.of("consumer=bench"), false);
        keys.add(key);
        cache.store(new CachedAnswer(key.partition(), key.key(), null, "{\"choices\":[]}", 10, 10, 0,
            System.currentTimeMillis() + 3_600_000));
      }
      System.out.printf("loaded %d entries in %.1f s; index memory %.1f MB (%.0f bytes per entry)%n", entries,
          (System.nanoTime() - t0) / 1e9, tier.memoryBytes() / 1e6, (double) tier.memoryBytes() / entries);
      tier.find(partition, pairs.get(0)[1], b[0], 0.9, true); // refresh the searcher once

      long[] exact = new long[lookups * 10];
      for (int i = 0; i < exact.length; i++) {
        CacheKey k = keys.get(random.nextInt(keys.size()));
        long s = System.nanoTime();
        if (cache.exact(k) == null) {
          throw new IllegalStateException("exact miss");
        }
        exact[i] = System.nanoTime() - s;
      }
      report("exact lookup (canonical key given, Caffeine)", exact);
      long[] keying = new long[lookups * 10];
      for (int i = 0; i < keying.length; i++) {
        String text = pairs.get(random.nextInt(pairs.size()))[0];
        long s = System.nanoTime();
        var body = (com.fasterxml.jackson.databind.node.ObjectNode) json.readTree(
            ("{\"model\":\"m\",\"temperature\":0,\"messages\":[{\"role\":\"user\",\"content\":"
                + json.writeValueAsString(text) + "}]}").getBytes(StandardCharsets.UTF_8));
        cache.exact(CacheKey.of(new ParsedRequest(Endpoint.CHAT_COMPLETIONS, body, "m", false), "m",
            List.of("consumer=bench"), false));
        keying[i] = System.nanoTime() - s;
      }
      report("exact lookup incl. parsing and hashing the request", keying);

      long[] search = new long[lookups];
      long[] full = new long[lookups];
      int hits = 0;
      for (int i = 0; i < lookups; i++) {
        int q = random.nextInt(pairs.size());
        long s = System.nanoTime();
        SemanticTier.Match m = tier.find(partition, pairs.get(q)[1], b[q], 0.9, true);
        search[i] = System.nanoTime() - s;
        s = System.nanoTime();
        m = tier.find(partition, pairs.get(q)[1], 0.9, true);
        full[i] = System.nanoTime() - s;
        hits += m == null ? 0 : 1;
      }
      report("semantic search + verify (embedding given)", search);
      report("semantic lookup: embed + search + verify", full);
      System.out.printf("(%d of %d semantic lookups hit)%n", hits, lookups);
    }
  }

  static void report(String what, long[] nanos) {
    long[] s = nanos.clone();
    Arrays.sort(s);
    System.out.printf(Locale.ROOT, "%-52s p50 %8.3f ms  p99 %8.3f ms  (n=%d)%n", what, s[s.length / 2] / 1e6,
        s[(int) (s.length * 0.99)] / 1e6, s.length);
  }
}
