package dev.weir.extproc.safety;

import java.util.Collection;
import java.util.List;
import org.ahocorasick.trie.Emit;
import org.ahocorasick.trie.Trie;

/**
 * Forbidden terms and phrases, matched whole-word on case- and accent-folded text with one
 * Aho–Corasick automaton, so thousands of terms cost about what ten do. Thread-safe once built.
 */
public final class Blocklist {
  public static final String CATEGORY = "blocklist";

  private final Trie trie;
  private final int longestTerm;
  private final java.util.Set<String> prefixes = new java.util.HashSet<>();

  public Blocklist(Collection<String> terms) {
    List<String> folded = terms.stream().map(NormalizedText::fold).map(String::strip).filter(t -> !t.isEmpty())
        .distinct().toList();
    trie = Trie.builder().onlyWholeWords().addKeywords(folded).build();
    longestTerm = folded.stream().mapToInt(String::length).max().orElse(0);
    for (String t : folded) {
      for (int i = 1; i <= t.length(); i++) {
        prefixes.add(t.substring(0, i));
      }
    }
  }

  public boolean isEmpty() {
    return longestTerm == 0;
  }

  /** The longest folded term's length: a stream holds back at most this much for the list. */
  public int longestTerm() {
    return longestTerm;
  }

  /**
   * Where a term that the text's end could still complete starts (a stream holds it back), or the
   * text's length. Only word starts are candidates, as matches are whole words.
   */
  public int partialTail(String text) {
    String folded = NormalizedText.fold(text.substring(Math.max(0, text.length() - longestTerm)));
    int base = text.length() - folded.length();
    for (int s = 0; s < folded.length(); s++) {
      boolean wordStart = s == 0 ? base == 0 || !Character.isLetterOrDigit(text.charAt(base - 1))
          : !Character.isLetterOrDigit(folded.charAt(s - 1));
      if (wordStart && prefixes.contains(folded.substring(s))) {
        return base + s;
      }
    }
    return text.length();
  }

  public void find(String folded, List<Finding> out) {
    if (longestTerm == 0) {
      return;
    }
    for (Emit e : trie.parseText(folded)) {
      // Emit's end is inclusive.
      out.add(new Finding(CATEGORY, CATEGORY, e.getStart(), e.getEnd() + 1, 1.0));
    }
  }
}
