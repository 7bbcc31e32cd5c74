package dev.weir.extproc.cache;

import dev.weir.config.v1.CacheSettings;

/**
 * The semantic tier's index: stored prompts by partition, searched for the nearest neighbour of a
 * new prompt. Thread-safe.
 */
public interface SemanticTier extends AutoCloseable {
  /** A stored prompt close enough to the new one, and how close. */
  record Match(String partition, String key, double similarity) {}

  /**
   * What a candidate must pass: cosine at or above {@code threshold}; when {@code verify} is on,
   * the rules, and the second model at or above {@code agreement} (0: no second opinion) unless
   * the first model's cosine is at or above {@code sure}.
   */
  record Checks(double threshold, double agreement, double sure, boolean verify) {
    /** The first model's cosine alone, no rules, no second opinion. */
    public static Checks cosineOnly(double threshold) {
      return new Checks(threshold, 0, 1, false);
    }
  }

  /** Indexes an entry's prompt (entries without one are ignored). */
  void add(CachedAnswer a);

  void remove(CachedAnswer a);

  /** The nearest stored prompt in {@code partition} that passes the checks. */
  Match find(String partition, String text, Checks checks);

  @Override
  void close();

  /**
   * The tier for these settings: embeddings and an ANN index in this process. The model loads on
   * first use, so a gateway whose policies never switch the tier on never loads it.
   */
  static SemanticTier create(CacheSettings settings) {
    return new LuceneSemanticTier(new Embedder(Embedder.Model.SEARCH, settings.getEmbeddingThreads()),
        new Embedder(Embedder.Model.JUDGE, settings.getEmbeddingThreads()),
        new HitVerifier(HitVerifier.DEFAULT_MAX_DIFFERENT_WORDS), 500, true);
  }

  /** No semantic matching: every lookup misses (for caches that only use the exact tier). */
  SemanticTier NONE = new SemanticTier() {
    @Override
    public void add(CachedAnswer a) {}

    @Override
    public void remove(CachedAnswer a) {}

    @Override
    public Match find(String partition, String text, Checks checks) {
      return null;
    }

    @Override
    public void close() {}
  };
}
