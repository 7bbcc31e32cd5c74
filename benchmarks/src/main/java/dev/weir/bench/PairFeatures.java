package dev.weir.bench;

import dev.weir.extproc.cache.HitVerifier;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * What a learned hit judge would see of a stored prompt and a new one: the cosine of each embedding
 * model and the surface differences the rules look at (numbers, negations, names, content words,
 * order, length). {@link CacheBenchmark} writes them for QQP, and {@code tools/cache-judge/train.py}
 * measures gradient-boosted trees on them (held-out; not shipped: they did no better than the rules
 * and the second model, see docs/benchmarks.md).
 */
public final class PairFeatures {
  /** Feature names, in order (the training script's CSV header). */
  public static final List<String> NAMES = List.of("cos_minilm", "cos_bge", "same_numbers", "same_negations",
      "same_names", "different_words", "same_order", "content_jaccard", "word_jaccard", "length_ratio",
      "only_stored", "only_asked", "same_first_word", "rules_accept");

  private PairFeatures() {}

  /** The features of a pair whose cosines under the two models are known. */
  public static double[] of(String stored, String asked, double cosMiniLm, double cosBge) {
    List<String> a = HitVerifier.words(stored);
    List<String> b = HitVerifier.words(asked);
    List<String> ca = HitVerifier.content(a);
    List<String> cb = HitVerifier.content(b);
    Set<String> sa = new HashSet<>(ca);
    Set<String> sb = new HashSet<>(cb);
    Set<String> both = new HashSet<>(sa);
    both.retainAll(sb);
    Set<String> either = new HashSet<>(sa);
    either.addAll(sb);
    Set<String> wa = new HashSet<>(a);
    Set<String> wb = new HashSet<>(b);
    Set<String> wboth = new HashSet<>(wa);
    wboth.retainAll(wb);
    Set<String> weither = new HashSet<>(wa);
    weither.addAll(wb);
    List<String> orderA = ca.stream().filter(both::contains).distinct().toList();
    List<String> orderB = cb.stream().filter(both::contains).distinct().toList();
    boolean sameNegations = HitVerifier.negations(a) % 2 == HitVerifier.negations(b) % 2
        && HitVerifier.negationSet(a).equals(HitVerifier.negationSet(b));
    return new double[] {
        cosMiniLm,
        cosBge,
        flag(HitVerifier.numbers(stored).equals(HitVerifier.numbers(asked))),
        flag(sameNegations),
        flag(HitVerifier.names(stored).equals(HitVerifier.names(asked))),
        Math.min(10, either.size() - both.size()),
        flag(orderA.equals(orderB)),
        either.isEmpty() ? 1 : (double) both.size() / either.size(),
        weither.isEmpty() ? 1 : (double) wboth.size() / weither.size(),
        Math.max(a.size(), b.size()) == 0 ? 1 : (double) Math.min(a.size(), b.size()) / Math.max(a.size(), b.size()),
        Math.min(10, sa.size() - both.size()),
        Math.min(10, sb.size() - both.size()),
        flag(!a.isEmpty() && !b.isEmpty() && a.get(0).equals(b.get(0))),
        flag(new HitVerifier(HitVerifier.DEFAULT_MAX_DIFFERENT_WORDS).accepts(stored, asked)),
    };
  }

  private static double flag(boolean b) {
    return b ? 1 : 0;
  }
}
