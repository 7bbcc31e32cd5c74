package dev.weir.extproc.cache;

import dev.weir.config.v1.CacheSettings;

/**
 * The semantic tier's index: stored prompts by partition, searched for the nearest neighbour of a
 * new prompt. Thread-safe.
 */
public interface SemanticTier extends AutoCloseable {
  /** A stored prompt close enough to the new one, and how close. */
  record Match(String partition, String key, double similarity) {}

  /** Indexes an entry's prompt (entries without one are ignored). */
  void add(CachedAnswer a);

  void remove(CachedAnswer a);

  /** The nearest stored prompt in {@code partition} at or above the threshold that the verifier accepts. */
  Match find(String partition, String text, double threshold, boolean verify);

  @Override
  void close();

  /** The tier for these settings. */
  static SemanticTier create(CacheSettings settings) {
    return NONE;
  }

  /** No semantic matching: every lookup misses. */
  SemanticTier NONE = new SemanticTier() {
    @Override
    public void add(CachedAnswer a) {}

    @Override
    public void remove(CachedAnswer a) {}

    @Override
    public Match find(String partition, String text, double threshold, boolean verify) {
      return null;
    }

    @Override
    public void close() {}
  };
}
