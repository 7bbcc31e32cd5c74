package dev.weir.extproc.safety;

import java.util.regex.Pattern;
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
   * One weighted pattern and the literals one of which any match starts with (empty: not
   * triggered by a word). A triggered pattern runs where its trigger stands, as an RE2/J search
   * anchored there ({@code anchored}), linear in the window whatever the gaps. The others run with
   * java.util.regex (those few patterns have no nested gaps) only where a match can start:
   * {@code start} says where.
   */
  record Signal(double weight, Pattern pattern, List<String> triggers, com.google.re2j.Pattern anchored, Start start,
      java.util.BitSet chars, int runLength, int id) {
    Signal withId(int id) {
      return new Signal(weight, pattern, triggers, anchored, start, chars, runLength, id);
    }
  }

  /** Where an untriggered pattern can match: what saves trying it at every position of the text. */
  enum Start {
    /** {@code ^} without (?m): at the start of the text only. */
    TEXT,
    /** {@code (?m)^}: at the start of a line. */
    LINE,
    /** Every alternative starts with a literal punctuation character: where one stands ({@code chars}). */
    CHARS,
    /** {@code [class]{n,}...}: a run of n characters of the class ({@code chars}), found in one pass. */
    RUN,
    /** Anywhere: a plain search. */
    ANYWHERE
  }

  private static final PromptAttackDetector DEFAULT = new PromptAttackDetector(load());

  private final List<Signal> signals;
  private final List<Signal> alwaysRun;
  /**
   * Triggers by their first two characters: a trigger is looked for only where a word starts (every
   * triggered pattern starts with {@code \b}), with one map lookup per word instead of an automaton
   * step per character.
   */
  @SuppressWarnings({"unchecked", "rawtypes"})
  private final List<Trigger>[] byPrefix = new List[PREFIX_SLOTS];
  private static final int PREFIX_SLOTS = 1 << 12;

  /** A trigger literal and the signals it starts. */
  private record Trigger(String literal, List<Signal> signals) {}

  PromptAttackDetector(List<Signal> signals) {
    List<Signal> numbered = new ArrayList<>();
    for (Signal s : signals) {
      numbered.add(s.withId(numbered.size()));
    }
    signals = numbered;
    this.signals = List.copyOf(signals);
    this.alwaysRun = signals.stream().filter(s -> s.triggers().isEmpty()).toList();
    java.util.Map<String, List<Signal>> byTrigger = new java.util.LinkedHashMap<>();
    for (Signal s : signals) {
      for (String t : s.triggers()) {
        byTrigger.computeIfAbsent(t, k -> new ArrayList<>()).add(s);
      }
    }
    byTrigger.forEach((t, list) -> {
      int slot = slot(t.charAt(0), t.charAt(1));
      if (byPrefix[slot] == null) {
        byPrefix[slot] = new ArrayList<>();
      }
      byPrefix[slot].add(new Trigger(t, List.copyOf(list)));
    });
  }

  public static PromptAttackDetector standard() {
    return DEFAULT;
  }

  /** The sum of the weights of the signals the folded text shows. */
  public double score(String folded) {
    boolean[] shown = new boolean[signals.size()];
    double score = 0;
    for (Signal s : alwaysRun) {
      if (shows(s, folded)) {
        shown[s.id()] = true;
        score += s.weight();
      }
    }
    int n = folded.length();
    for (int i = 0; i + 1 < n; i++) {
      if (i > 0 && word(folded.charAt(i - 1))) {
        continue;
      }
      // Slots are shared by unrelated prefixes; startsWith below tells them apart.
      List<Trigger> candidates = byPrefix[slot(folded.charAt(i), folded.charAt(i + 1))];
      if (candidates == null) {
        continue;
      }
      for (Trigger t : candidates) {
        if (!folded.startsWith(t.literal(), i)) {
          continue;
        }
        for (Signal s : t.signals()) {
          if (!shown[s.id()]) {
            // One character before the trigger, so the pattern's leading \b sees what precedes it; a
            // view, not a copy: common trigger words ("now", "new") stand many times in a long text.
            int from = Math.max(0, i - 1);
            if (s.anchored().matcher(java.nio.CharBuffer.wrap(folded, from, Math.min(n, i + WINDOW))).find()) {
              shown[s.id()] = true;
              score += s.weight();
            }
          }
        }
      }
    }
    return score;
  }

  private static int slot(char a, char b) {
    return (a * 31 + b) & (PREFIX_SLOTS - 1);
  }

  /** RE2's \b word characters. */
  private static boolean word(char c) {
    return c < 0x80 && (Character.isLetterOrDigit(c) || c == '_');
  }

  private static boolean shows(Signal s, String folded) {
    java.util.regex.Matcher m = s.pattern().matcher(folded).useTransparentBounds(true).useAnchoringBounds(false);
    int n = folded.length();
    switch (s.start()) {
      case TEXT -> {
        return m.lookingAt();
      }
      case LINE -> {
        for (int i = 0; i < n; i = folded.indexOf('\n', i) + 1) {
          if (m.region(i, n).lookingAt()) {
            return true;
          }
          if (folded.indexOf('\n', i) < 0) {
            return false;
          }
        }
        return false;
      }
      case CHARS -> {
        for (int i = 0; i < n; i++) {
          if (s.chars().get(folded.charAt(i)) && m.region(i, n).lookingAt()) {
            return true;
          }
        }
        return false;
      }
      case RUN -> {
        int run = 0;
        for (int i = 0; i < n; i++) {
          run = s.chars().get(folded.charAt(i)) ? run + 1 : 0;
          if (run >= s.runLength()) {
            return true;
          }
        }
        return false;
      }
      default -> {
        return m.find();
      }
    }
  }

  /** Where an untriggered pattern can start, and the characters that say so. */
  static Signal classify(double weight, String regex) {
    Pattern pattern = Pattern.compile(regex);
    List<String> triggers = regex.startsWith("\\b") ? triggers(regex) : List.of();
    if (!triggers.isEmpty()) {
      return new Signal(weight, pattern, triggers, com.google.re2j.Pattern.compile("^[\\s\\S]?(?:" + regex + ")"),
          Start.ANYWHERE, null, 0, 0);
    }
    java.util.regex.Matcher run = Pattern.compile("\\[([a-z0-9+/-]+)\\]\\{([0-9]+),\\}.*").matcher(regex);
    if (run.matches()) {
      java.util.BitSet chars = new java.util.BitSet();
      String set = run.group(1);
      for (int i = 0; i < set.length(); i++) {
        if (i + 2 < set.length() && set.charAt(i + 1) == '-') {
          chars.set(set.charAt(i), set.charAt(i + 2) + 1);
          i += 2;
        } else {
          chars.set(set.charAt(i));
        }
      }
      // The run alone decides: what follows it in the pattern ({0,2} padding) always matches.
      return new Signal(weight, pattern, triggers, null, Start.RUN, chars, Integer.parseInt(run.group(2)), 0);
    }
    if (regex.startsWith("(?m)^")) {
      return new Signal(weight, pattern, triggers, null, Start.LINE, null, 0, 0);
    }
    if (regex.startsWith("^")) {
      return new Signal(weight, pattern, triggers, null, Start.TEXT, null, 0, 0);
    }
    java.util.BitSet first = new java.util.BitSet();
    for (String a : split(regex, 0)) {
      boolean escaped = a.length() > 1 && a.charAt(0) == '\\' && !Character.isLetterOrDigit(a.charAt(1));
      String rest = a.substring(escaped ? 2 : Math.min(1, a.length()));
      if (a.isEmpty() || !escaped && (Character.isLetterOrDigit(a.charAt(0)) || "\\([.^$|".indexOf(a.charAt(0)) >= 0)
          || !rest.isEmpty() && "?*{+".indexOf(rest.charAt(0)) >= 0) {
        return new Signal(weight, pattern, triggers, null, Start.ANYWHERE, null, 0, 0);
      }
      first.set(a.charAt(escaped ? 1 : 0));
    }
    return new Signal(weight, pattern, triggers, null, Start.CHARS, first, 0, 0);
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
        out.add(classify(Double.parseDouble(f[0]), f[1]));
      }
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
