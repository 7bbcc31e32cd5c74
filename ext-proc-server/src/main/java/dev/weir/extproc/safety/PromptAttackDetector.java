package dev.weir.extproc.safety;

import java.util.Set;
import java.util.HashSet;
import java.util.regex.Pattern;
import org.ahocorasick.trie.Emit;
import org.ahocorasick.trie.Trie;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A scored heuristic for instruction-override and jailbreak phrasing: weighted signals (English,
 * German, French, Spanish, Italian phrase patterns; role-play framing; fake system turns; encoded
 * payloads) kept in {@code prompt-attacks.tsv}, summed over the folded text. It catches the common
 * phrasings, not a determined attacker; docs/benchmarks.md has its measured precision and recall.
 * Thread-safe.
 */
public final class PromptAttackDetector {
  public static final String CATEGORY = "prompt_attack";

  /**
   * One weighted pattern and the literals one of which any match starts with (empty: always run
   * over the whole text, with java.util.regex: those few patterns have no nested gaps, and it is
   * faster than RE2/J on a whole text). A triggered pattern runs where its trigger stands, as an
   * RE2/J search anchored there ({@code anchored}), linear in the window whatever the gaps.
   */
  record Signal(double weight, Pattern pattern, List<String> triggers, com.google.re2j.Pattern anchored) {}

  private static final PromptAttackDetector DEFAULT = new PromptAttackDetector(load());

  private final List<Signal> signals;
  private final List<Signal> alwaysRun;
  /** All triggers in one automaton: a text runs only the patterns whose triggers it contains. */
  private final Trie triggers;
  private final java.util.Map<String, List<Signal>> byTrigger = new java.util.HashMap<>();

  PromptAttackDetector(List<Signal> signals) {
    this.signals = List.copyOf(signals);
    this.alwaysRun = signals.stream().filter(s -> s.triggers().isEmpty()).toList();
    for (Signal s : signals) {
      for (String t : s.triggers()) {
        byTrigger.computeIfAbsent(t, k -> new ArrayList<>()).add(s);
      }
    }
    this.triggers = Trie.builder().addKeywords(byTrigger.keySet()).build();
  }

  public static PromptAttackDetector standard() {
    return DEFAULT;
  }

  /** The sum of the weights of the signals the folded text shows. */
  public double score(String folded) {
    Set<Signal> shown = new HashSet<>();
    double score = 0;
    for (Signal s : alwaysRun) {
      if (s.pattern().matcher(folded).find() && shown.add(s)) {
        score += s.weight();
      }
    }
    // A triggered pattern is tried only where its trigger stands: a match starts there.
    for (Emit e : triggers.parseText(folded)) {
      for (Signal s : byTrigger.get(e.getKeyword())) {
        if (!shown.contains(s)) {
          // One character before the trigger, so the pattern's leading \\b sees what precedes it.
          int from = Math.max(0, e.getStart() - 1);
          if (s.anchored().matcher(folded.substring(from, Math.min(folded.length(), e.getStart() + WINDOW))).find()) {
            shown.add(s);
            score += s.weight();
          }
        }
      }
    }
    return score;
  }

  /** Longest match a triggered pattern can have (every pattern's gaps are bounded). */
  static final int WINDOW = 400;

  /**
   * The literal starts of a pattern's alternatives: from {@code \b(?:ignore|forget ...)} the
   * words before any other syntax; none (always run) when an alternative starts with syntax.
   */
  static List<String> triggers(String regex) {
    List<String> top = split(regex, 0);
    List<String> alternatives = new ArrayList<>();
    for (String a : top) {
      String r = a.startsWith("\\b") ? a.substring(2) : a;
      if (top.size() == 1 && r.startsWith("(?:")) {
        alternatives.addAll(split(r, 3));
      } else {
        alternatives.add(r);
      }
    }
    List<String> out = new ArrayList<>();
    for (String a : alternatives) {
      int i = 0;
      while (i < a.length() && (Character.isLetter(a.charAt(i)) || a.charAt(i) == ' ' || a.charAt(i) == '\'')) {
        i++;
      }
      String literal = a.substring(0, i);
      // "instructions?" may match without its last letter.
      if (i < a.length() && "?*{".indexOf(a.charAt(i)) >= 0 && !literal.isEmpty()) {
        literal = literal.substring(0, literal.length() - 1);
      }
      literal = literal.strip();
      if (literal.length() < 2) {
        return List.of();
      }
      out.add(literal);
    }
    return out;
  }

  /** The alternatives at depth 0 from {@code from} to the end or to the group's closing parenthesis. */
  private static List<String> split(String r, int from) {
    List<String> out = new ArrayList<>();
    int depth = 0;
    int start = from;
    for (int i = from; i < r.length(); i++) {
      char c = r.charAt(i);
      if (c == '\\') {
        i++;
      } else if (c == '(') {
        depth++;
      } else if (c == ')' && depth-- == 0) {
        out.add(r.substring(start, i));
        return out;
      } else if (c == '|' && depth == 0) {
        out.add(r.substring(start, i));
        start = i + 1;
      }
    }
    out.add(r.substring(start));
    return out;
  }

  static List<Signal> load() {
    try (InputStream in = PromptAttackDetector.class.getResourceAsStream("prompt-attacks.tsv")) {
      if (in == null) {
        throw new IllegalStateException("prompt-attacks.tsv is missing from the classpath");
      }
      List<Signal> out = new ArrayList<>();
      for (String line : new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8)).lines().toList()) {
        if (line.isBlank() || line.startsWith("#")) {
          continue;
        }
        String[] f = line.split("\t", 2);
        out.add(new Signal(Double.parseDouble(f[0]), Pattern.compile(f[1]), triggers(f[1]),
            com.google.re2j.Pattern.compile("^[\\s\\S]?(?:" + f[1] + ")")));
      }
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
