package dev.weir.extproc.cache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.Defaults;
import dev.weir.config.v1.CachePolicy;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The semantic tier with the real embedding model, index and verifier at the shipped defaults. */
class SemanticTierTest {
  static Embedder embedder;
  static Embedder judge;
  static LuceneSemanticTier tier;
  static double threshold;
  static double agreement;
  static SemanticTier.Checks shipped;

  @BeforeAll
  static void start() {
    embedder = new Embedder(Embedder.Model.SEARCH, 2);
    judge = new Embedder(Embedder.Model.JUDGE, 2);
    tier = new LuceneSemanticTier(embedder, judge, new HitVerifier(HitVerifier.DEFAULT_MAX_DIFFERENT_WORDS), 5_000);
    threshold = declared("threshold");
    agreement = declared("agreementThreshold");
    shipped = new SemanticTier.Checks(threshold, agreement, declared("sureThreshold"), true);
  }

  static double declared(String field) {
    return Double.parseDouble(Defaults.declared(CachePolicy.getDescriptor().findFieldByName(field)).orElseThrow());
  }

  @AfterAll
  static void stop() {
    tier.close();
    embedder.close();
    judge.close();
  }

  static void index(String partition, String key, String text) {
    tier.index(partition, key, text, embedder.embedHere(text), judge.embedHere(text));
  }


  record Pair(String kind, String stored, String asked) {}

  static List<Pair> adversarial() throws Exception {
    List<Pair> out = new ArrayList<>();
    try (var in = new BufferedReader(new InputStreamReader(
        SemanticTierTest.class.getResourceAsStream("/cache/adversarial-pairs.tsv"), StandardCharsets.UTF_8))) {
      for (String line = in.readLine(); line != null; line = in.readLine()) {
        if (!line.startsWith("#") && !line.isBlank()) {
          String[] f = line.split("\t");
          out.add(new Pair(f[0], f[1], f[2]));
        }
      }
    }
    return out;
  }

  @Test
  void negationsSwappedNumbersNamesAndRolesNeverHit() throws Exception {
    List<Pair> pairs = adversarial();
    assertTrue(pairs.size() >= 50, "at least 50 adversarial pairs, found " + pairs.size());
    List<String> served = new ArrayList<>();
    int closeByEmbedding = 0;
    for (int i = 0; i < pairs.size(); i++) {
      Pair p = pairs.get(i);
      String partition = "adversarial-" + i;
      index(partition, "k", p.stored());
      float[] asked = embedder.embedHere(p.asked());
      if (tier.find(partition, p.asked(), asked, null, SemanticTier.Checks.cosineOnly(threshold)) != null) {
        closeByEmbedding++;
      }
      if (tier.find(partition, p.asked(), asked, null, shipped) != null) {
        served.add(p.kind() + ": " + p.stored() + " → " + p.asked());
      }
    }
    assertEquals(List.of(), served);
    // The set is hard: without the verifier, the embedding alone would serve many of them.
    assertTrue(closeByEmbedding >= pairs.size() / 3, "only " + closeByEmbedding + " pairs pass the threshold alone");
  }

  @Test
  void aParaphraseHitsWithItsSimilarity() {
    index("para", "k1", "How do I reverse a list in Python?");
    SemanticTier.Match m = tier.find("para", "How can I reverse a list in Python?", shipped);
    assertNotNull(m);
    assertEquals("k1", m.key());
    assertTrue(m.similarity() >= threshold && m.similarity() <= 1.0001, "similarity " + m.similarity());
  }

  @Test
  void aCandidateTheSecondModelDoesNotAgreeWithIsNotServed() {
    index("judged", "k1", "How do I reverse a list in Python?");
    String asked = "How can I reverse a list in Python?";
    assertNotNull(tier.find("judged", asked, new SemanticTier.Checks(threshold, 0, 1, true)),
        "rules alone accept the paraphrase");
    assertNull(tier.find("judged", asked, new SemanticTier.Checks(threshold, 0.9999, 1, true)),
        "the second model's score is below 0.9999");
  }

  @Test
  void aPromptNeverMatchesAnotherPartitionsEntry() {
    index("one", "k", "What is the boiling point of water?");
    assertNull(tier.find("two", "What is the boiling point of water?", shipped));
    assertNotNull(tier.find("one", "What is the boiling point of water?", shipped));
  }

  @Test
  void aCandidateCloseEnoughUnderTheFirstModelNeedsNoSecondOpinion() {
    index("sure", "k1", "How do I reverse a list in Python?");
    String asked = "How can I reverse a list in Python?";
    double cosine = Embedder.cosine(embedder.embedHere("How do I reverse a list in Python?"), embedder.embedHere(asked));
    assertNull(tier.find("sure", asked, new SemanticTier.Checks(threshold, 0.9999, 1, true)), "asked, it disagrees");
    assertNotNull(tier.find("sure", asked, new SemanticTier.Checks(threshold, 0.9999, cosine - 0.001, true)),
        "at or above the sure threshold the second model is not asked");
    assertNull(tier.find("sure", "How can I reverse a list in Python? And in Java?",
        new SemanticTier.Checks(0, 0.9999, 0, true)), "the rules still apply");
  }
}
