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
    Path features = args.length > 3 ? Path.of(args[3]) : null;
    System.out.printf("JVM %s, %d cores%n%n", Runtime.version(), Runtime.getRuntime().availableProcessors());
    ObjectMapper json = new ObjectMapper();
    List<String[]> pairs = new ArrayList<>();
    List<Boolean> duplicate = new ArrayList<>();
    for (String line : Files.readAllLines(qqp)) {
      JsonNode n = json.readTree(line);
      pairs.add(new String[] {n.get("a").asText(), n.get("b").asText()});
      duplicate.add(n.get("duplicate").asBoolean());
    }
    try (Embedder embedder = new Embedder(Embedder.Model.SEARCH, 1);
        Embedder judge = new Embedder(Embedder.Model.JUDGE, 1)) {
      float[][] a = new float[pairs.size()][];
      float[][] b = new float[pairs.size()][];
      float[][] ja = new float[pairs.size()][];
      float[][] jb = new float[pairs.size()][];
      long t0 = System.nanoTime();
      for (int i = 0; i < pairs.size(); i++) {
        a[i] = embedder.embedHere(pairs.get(i)[0]);
        b[i] = embedder.embedHere(pairs.get(i)[1]);
      }
      long t1 = System.nanoTime();
      for (int i = 0; i < pairs.size(); i++) {
        ja[i] = judge.embedHere(pairs.get(i)[0]);
        jb[i] = judge.embedHere(pairs.get(i)[1]);
      }
      System.out.printf("embedded %d prompts in %.1f s (search model), %.1f s (second model)%n%n", 2 * pairs.size(),
          (t1 - t0) / 1e9, (System.nanoTime() - t1) / 1e9);
      Scores sc = new Scores(pairs, duplicate, a, b, ja, jb);
      if (features != null) {
        sc.writeFeatures(features);
      }
      accuracy(sc, embedder, judge);
      latency(pairs, a, b, ja, jb, embedder, judge, entries, lookups);
    }
  }

  /** Every pair's cosines under both models and the rules' verdicts, computed once. */
  record Scores(List<String[]> pairs, List<Boolean> duplicate, double[] search, double[] second, boolean[] rules,
      boolean[] oldRules, int duplicates) {
    Scores(List<String[]> pairs, List<Boolean> duplicate, float[][] a, float[][] b, float[][] ja, float[][] jb) {
      this(pairs, duplicate, new double[pairs.size()], new double[pairs.size()], new boolean[pairs.size()],
          new boolean[pairs.size()], (int) duplicate.stream().filter(d -> d).count());
      HitVerifier shipped = new HitVerifier(HitVerifier.DEFAULT_MAX_DIFFERENT_WORDS);
      HitVerifier oneWord = new HitVerifier(1);
      for (int i = 0; i < pairs.size(); i++) {
        search[i] = Embedder.cosine(a[i], b[i]);
        second[i] = Embedder.cosine(ja[i], jb[i]);
        rules[i] = shipped.accepts(pairs.get(i)[0], pairs.get(i)[1]);
        oldRules[i] = oneWord.accepts(pairs.get(i)[0], pairs.get(i)[1]);
      }
    }

    boolean hit(int i, double threshold, double agreement, double sure, boolean[] verdicts) {
      return search[i] >= threshold && (search[i] >= sure || second[i] >= agreement)
          && (verdicts == null || verdicts[i]);
    }

    /** Hits and right hits among {@code which} pairs. */
    int[] count(int[] which, double threshold, double agreement, double sure, boolean[] verdicts) {
      int hits = 0;
      int right = 0;
      for (int i : which) {
        if (hit(i, threshold, agreement, sure, verdicts)) {
          hits++;
          right += duplicate.get(i) ? 1 : 0;
        }
      }
      return new int[] {hits, right};
    }

    /** The CSV that tools/cache-judge/train.py reads: the label, then {@link PairFeatures}. */
    void writeFeatures(Path out) throws java.io.IOException {
      List<String> lines = new ArrayList<>();
      lines.add("label," + String.join(",", PairFeatures.NAMES));
      for (int i = 0; i < pairs.size(); i++) {
        StringBuilder sb = new StringBuilder(duplicate.get(i) ? "1" : "0");
        for (double x : PairFeatures.of(pairs.get(i)[0], pairs.get(i)[1], search[i], second[i])) {
          sb.append(',').append((float) x);
        }
        lines.add(sb.toString());
      }
      Files.write(out, lines);
      System.out.println("wrote " + out + "\n");
    }
  }

  static void accuracy(Scores sc, Embedder embedder, Embedder judge) {
    int[] all = java.util.stream.IntStream.range(0, sc.pairs().size()).toArray();
    double threshold = declared("threshold");
    double agreement = declared("agreementThreshold");
    double sure = declared("sureThreshold");
    System.out.println("| rule | hits | precision | recall |");
    System.out.println("| --- | --- | --- | --- |");
    for (double t : new double[] {0.80, 0.90, 0.95}) {
      row(String.format(Locale.ROOT, "plain cosine >= %.2f", t), sc, all, t, 0, 1, null);
    }
    row("cosine >= 0.90 + rules with at most one different word (the previous default)", sc, all, 0.90, 0, 1,
        sc.oldRules());
    for (double t : new double[] {0.88, 0.91, 0.94}) {
      row(String.format(Locale.ROOT, "cosine >= %.2f + rules", t), sc, all, t, 0, 1, sc.rules());
    }
    for (double g : new double[] {0.93, 0.95, 0.96, 0.97}) {
      row(String.format(Locale.ROOT, "cosine >= %.2f + rules + second model >= %.3f", threshold, g), sc, all,
          threshold, g, 1, sc.rules());
    }
    for (double u : new double[] {0.95, 0.96, 0.97}) {
      row(String.format(Locale.ROOT, "cosine >= %.2f + rules + second model >= %.3f below cosine %.2f%s", threshold,
          agreement, u, u == sure ? " (shipped default)" : ""), sc, all, threshold, agreement, u, sc.rules());
    }
    // The shipped default through the real index (one partition per pair), as a lookup runs it.
    try (LuceneSemanticTier tier = new LuceneSemanticTier(embedder, judge,
        new HitVerifier(HitVerifier.DEFAULT_MAX_DIFFERENT_WORDS), 5_000)) {
      int hits = 0;
      int right = 0;
      for (int i = 0; i < sc.pairs().size(); i++) {
        String[] p = sc.pairs().get(i);
        tier.index("p" + i, "k", p[0], embedder.embedHere(p[0]), judge.embedHere(p[0]));
      }
      for (int i = 0; i < sc.pairs().size(); i++) {
        String[] p = sc.pairs().get(i);
        if (tier.find("p" + i, p[1], embedder.embedHere(p[1]), judge.embedHere(p[1]),
            new SemanticTier.Checks(threshold, agreement, sure, true)) != null) {
          hits++;
          right += sc.duplicate().get(i) ? 1 : 0;
        }
      }
      System.out.printf(Locale.ROOT, "| shipped default through the Lucene index | %d | %.3f | %.3f |%n%n", hits,
          hits == 0 ? 0 : (double) right / hits, (double) right / sc.duplicates());
    }
    crossValidated(sc);
  }

  /**
   * How the shipped thresholds were chosen, and what that choice is worth on pairs it never saw:
   * for each of 5 folds, the (threshold, agreement) with the best precision at recall >= 0.15 is
   * picked on the other 4 folds and scored on this one; repeated with 3 shuffles.
   */
  static void crossValidated(Scores sc) {
    System.out.println("| chosen for | held-out precision | held-out recall | chosen on all pairs |");
    System.out.println("| --- | --- | --- | --- |");
    for (double minRecall : new double[] {0.10, 0.15, 0.20, 0.30}) {
      double precision = 0;
      double recall = 0;
      for (int seed = 1; seed <= 3; seed++) {
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < sc.pairs().size(); i++) {
          order.add(i);
        }
        java.util.Collections.shuffle(order, new Random(seed));
        int hits = 0;
        int right = 0;
        for (int fold = 0; fold < 5; fold++) {
          final int f = fold;
          int[] test = java.util.stream.IntStream.range(0, order.size()).filter(k -> k % 5 == f).map(order::get).toArray();
          int[] train = java.util.stream.IntStream.range(0, order.size()).filter(k -> k % 5 != f).map(order::get)
              .toArray();
          double[] best = choose(sc, train, minRecall);
          int[] c = sc.count(test, best[0], best[1], declared("sureThreshold"), sc.rules());
          hits += c[0];
          right += c[1];
        }
        precision += (double) right / Math.max(1, hits) / 3;
        recall += (double) right / sc.duplicates() / 3;
      }
      int[] all = java.util.stream.IntStream.range(0, sc.pairs().size()).toArray();
      double[] chosen = choose(sc, all, minRecall);
      System.out.printf(Locale.ROOT, "| best precision at recall >= %.2f | %.3f | %.3f | threshold %.2f, agreement %.3f |%n",
          minRecall, precision, recall, chosen[0], chosen[1]);
    }
    System.out.println();
  }

  static double[] choose(Scores sc, int[] which, double minRecall) {
    int duplicates = 0;
    for (int i : which) {
      duplicates += sc.duplicate().get(i) ? 1 : 0;
    }
    double[] best = {0.9, 0, -1};
    for (int t = 80; t <= 95; t++) {
      for (int g = 0; g <= 10; g++) {
        double agreement = g == 0 ? 0 : 0.925 + 0.005 * g;
        int[] c = sc.count(which, t / 100.0, agreement, declared("sureThreshold"), sc.rules());
        double precision = c[0] < 10 ? 0 : (double) c[1] / c[0];
        if ((double) c[1] / duplicates >= minRecall && precision > best[2]) {
          best = new double[] {t / 100.0, agreement, precision};
        }
      }
    }
    return best;
  }

  static double declared(String field) {
    return Double.parseDouble(dev.weir.config.Defaults.declared(
        dev.weir.config.v1.CachePolicy.getDescriptor().findFieldByName(field)).orElseThrow());
  }

  static void row(String name, Scores sc, int[] which, double t, double agreement, double sure,
      boolean[] verdicts) {
    int[] c = sc.count(which, t, agreement, sure, verdicts);
    System.out.printf(Locale.ROOT, "| %s | %d | %.3f | %.3f |%n", name, c[0], c[0] == 0 ? 0 : (double) c[1] / c[0],
        (double) c[1] / sc.duplicates());
  }

  /**
   * One partition of {@code entries}: the QQP {@code a} prompts with their real embeddings, and
   * the rest as those embeddings plus small noise (embedding 100,000 distinct prompts with both
   * models would take ~25 minutes here; the index and the search do not care where vectors come
   * from). Each measurement is preceded by as many unmeasured lookups, so the JIT has compiled
   * the paths: these are steady-state numbers.
   */
  static void latency(List<String[]> pairs, float[][] a, float[][] b, float[][] ja, float[][] jb, Embedder embedder,
      Embedder judge, int entries, int lookups) throws Exception {
    Random random = new Random(42);
    double threshold = declared("threshold");
    double agreement = declared("agreementThreshold");
    SemanticTier.Checks checks = new SemanticTier.Checks(threshold, agreement, declared("sureThreshold"), true);
    HitVerifier verifier = new HitVerifier(HitVerifier.DEFAULT_MAX_DIFFERENT_WORDS);
    try (LuceneSemanticTier tier = new LuceneSemanticTier(embedder, judge, verifier, 5_000);
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
        tier.index(partition, "k" + i, text, v, ja[src]);
        var body = (com.fasterxml.jackson.databind.node.ObjectNode) json.readTree(
            "{\"model\":\"m\",\"temperature\":0,\"messages\":[{\"role\":\"user\",\"content\":"
                + json.writeValueAsString(text) + "}]}");
        CacheKey key = CacheKey.of(new ParsedRequest(Endpoint.CHAT_COMPLETIONS, body, "m", false), "m",
            List.of("consumer=bench"), false);
        keys.add(key);
        cache.store(new CachedAnswer(key.partition(), key.key(), null, "{\"choices\":[]}", 10, 10, 0,
            System.currentTimeMillis() + 3_600_000, "bench", "m"));
      }
      long memory = tier.memoryBytes();
      System.out.printf("loaded %d entries in %.1f s; index memory %.1f MB (%.0f bytes per entry)%n", entries,
          (System.nanoTime() - t0) / 1e9, memory / 1e6, (double) memory / entries);

      for (int pass = 0; pass < 2; pass++) {
        long[] exact = new long[lookups * 10];
        for (int i = 0; i < exact.length; i++) {
          CacheKey k = keys.get(random.nextInt(keys.size()));
          long s = System.nanoTime();
          if (cache.exact(k) == null) {
            throw new IllegalStateException("exact miss");
          }
          exact[i] = System.nanoTime() - s;
        }
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
        long[] search = new long[lookups];
        long[] full = new long[lookups];
        List<Long> hitNanos = new ArrayList<>();
        List<Long> missNanos = new ArrayList<>();
        int hits = 0;
        for (int i = 0; i < search.length; i++) {
          int q = random.nextInt(pairs.size());
          String asked = pairs.get(q)[1];
          long s = System.nanoTime();
          tier.find(partition, asked, b[q], jb[q], checks);
          search[i] = System.nanoTime() - s;
          // A prompt never seen (the embedders remember recent prompts): a word the benchmark adds,
          // before the closing punctuation so that it stays one sentence, as the rules compare.
          String fresh = fresh(asked, WORDS[random.nextInt(WORDS.length)]);
          s = System.nanoTime();
          SemanticTier.Match m = tier.find(partition, fresh, checks);
          full[i] = System.nanoTime() - s;
          if (m != null) {
            hitNanos.add(full[i]);
            hits++;
          } else {
            missNanos.add(full[i]);
          }
        }
        if (pass == 1) {
          report("exact lookup (canonical key given, Caffeine)", exact);
          report("exact lookup incl. parsing and hashing the request", keying);
          report("semantic search + verify (embeddings given)", search);
          report("semantic lookup: embed + search + verify (+ second model)", full);
          report("  of which misses (one embedding)", missNanos.stream().mapToLong(Long::longValue).toArray());
          report("  of which hits (one or both embeddings)", hitNanos.stream().mapToLong(Long::longValue).toArray());
          System.out.printf("(%d of %d semantic lookups hit)%n", hits, full.length);
        }
      }
    }
  }

  static String fresh(String prompt, String word) {
    String p = prompt.strip();
    int end = p.length();
    while (end > 0 && "?.!".indexOf(p.charAt(end - 1)) >= 0) {
      end--;
    }
    return p.substring(0, end) + " " + word + p.substring(end);
  }

  private static final String[] WORDS = {"please", "now", "today", "quickly", "exactly", "really", "again", "here"};

  static void report(String what, long[] nanos) {
    if (nanos.length == 0) {
      System.out.printf(Locale.ROOT, "%-52s none%n", what);
      return;
    }
    long[] s = nanos.clone();
    Arrays.sort(s);
    System.out.printf(Locale.ROOT, "%-52s p50 %8.3f ms  p99 %8.3f ms  (n=%d)%n", what, s[s.length / 2] / 1e6,
        s[(int) (s.length * 0.99)] / 1e6, s.length);
  }
}
