package dev.weir.extproc.cache;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The semantic tier's second opinion on a candidate the embedding found close enough. Embeddings
 * score a question and its negation, or the same question about other numbers, names or roles, as
 * near-identical; this check refuses a pair whose numbers (in digits or words), negations, names,
 * owners ("my" / "your"), content words, word order or number of questions differ, and any prompt
 * that points at something it does not contain ("this", "the following", "below"). Chosen by
 * measurement on QQP ({@code docs/benchmarks.md}): each rule removed wrong hits at a small cost in
 * recall. Stateless, thread-safe.
 */
public final class HitVerifier {
  private static final Pattern WORD = Pattern.compile("[\\p{L}\\p{N}]+(?:[.,]\\p{N}+)*");
  private static final Pattern NUMBER = Pattern.compile("\\p{N}+(?:[.,]\\p{N}+)*");
  private static final Set<String> NEGATIONS = Set.of("not", "no", "never", "none", "nobody", "nothing",
      "neither", "nor", "cannot", "without", "nowhere", "hardly");
  private static final Set<String> STOP = Set.of(("a an the is are was were be been being do does did i you he she it"
      + " we they me my your his her its our their what which who whom whose how why when where there here this that"
      + " these those to of in on at by for with from as and or but if then so than too very can could should would"
      + " will shall may might must have has had having about into over under again further once just also any some"
      + " such only own same other more most s t now get got make like one").split(" "));
  /**
   * Numbers spelled out. "one" is left out: "how does one learn" is a pronoun, and "one" against
   * "two" still differs by the "two".
   */
  private static final Set<String> NUMBER_WORDS = Set.of(("zero two three four five six seven eight nine ten eleven"
      + " twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy"
      + " eighty ninety hundred hundreds thousand thousands million millions billion billions trillion trillions dozen"
      + " dozens first second third fourth fifth sixth seventh eighth ninth tenth half double triple twice thrice")
      .split(" "));
  /**
   * Words that point at content the prompt itself does not hold ("this problem", "the code below"):
   * two such prompts are only as alike as what they point at, which the text does not show.
   */
  private static final Set<String> POINTERS = Set.of("this", "these", "following", "below", "above", "attached");
  /** Possessives, by whose: "my website" is not "your website". */
  private static final Map<String, String> OWNERS = Map.ofEntries(
      Map.entry("my", "1"), Map.entry("mine", "1"), Map.entry("our", "1p"),
      Map.entry("ours", "1p"), Map.entry("your", "2"), Map.entry("yours", "2"),
      Map.entry("his", "3m"), Map.entry("her", "3f"), Map.entry("hers", "3f"),
      Map.entry("their", "3p"), Map.entry("theirs", "3p"));
  private static final Pattern SENTENCE_END = Pattern.compile("[?!.]+(?:\\s+|$)");

  /**
   * The shipped setting, chosen on QQP (see docs/benchmarks.md): no limit. With the second model's
   * agreement, a limit on different words only cost recall; numbers, negations, names and order
   * still refuse what they must.
   */
  public static final int DEFAULT_MAX_DIFFERENT_WORDS = Integer.MAX_VALUE;

  /** Content words that may differ between a stored prompt and a new one. */
  private final int maxDifferentWords;

  public HitVerifier(int maxDifferentWords) {
    this.maxDifferentWords = maxDifferentWords;
  }

  /** True when {@code stored}'s answer may be served for {@code asked}. */
  public boolean accepts(String stored, String asked) {
    if (!numbers(stored).equals(numbers(asked)) || sentences(stored) != sentences(asked)) {
      return false;
    }
    List<String> a = words(stored);
    List<String> b = words(asked);
    if (points(a) || points(b) || !owners(a).equals(owners(b)) || !numberWords(a).equals(numberWords(b))) {
      return false;
    }
    if (negations(a) % 2 != negations(b) % 2 || !negationSet(a).equals(negationSet(b))) {
      return false;
    }
    if (!names(stored).equals(names(asked))) {
      return false;
    }
    List<String> ca = content(a);
    List<String> cb = content(b);
    Set<String> sa = new HashSet<>(ca);
    Set<String> sb = new HashSet<>(cb);
    Set<String> diff = new HashSet<>(sa);
    diff.addAll(sb);
    Set<String> both = new HashSet<>(sa);
    both.retainAll(sb);
    diff.removeAll(both);
    if (diff.size() > maxDifferentWords || negatedByPrefix(diff, a, b)) {
      return false;
    }
    // The same words in another order: "X beats Y" is not "Y beats X".
    List<String> orderA = ca.stream().filter(both::contains).distinct().toList();
    List<String> orderB = cb.stream().filter(both::contains).distinct().toList();
    return orderA.equals(orderB);
  }

  private static final String[] NEGATING_PREFIXES = {"il", "im", "in", "ir", "un", "dis", "non", "non-", "anti"};

  /**
   * True when a word only one text has is a word of the other with a negating prefix: "legal" /
   * "illegal", "like" / "dislike" (the root may be a stop word, so all words count).
   */
  static boolean negatedByPrefix(Set<String> differentWords, List<String> wordsA, List<String> wordsB) {
    Set<String> all = new HashSet<>(wordsA);
    all.addAll(wordsB);
    for (String w : differentWords) {
      for (String prefix : NEGATING_PREFIXES) {
        String root = w.length() > prefix.length() + 2 && w.startsWith(prefix) ? w.substring(prefix.length()) : null;
        if (root != null && (differentWords.contains(root) || all.contains(root))) {
          return true;
        }
      }
    }
    return false;
  }

  /** The numbers in a text, thousands separators dropped. */
  public static Set<String> numbers(String s) {
    Set<String> out = new HashSet<>();
    Matcher m = NUMBER.matcher(s);
    while (m.find()) {
      out.add(m.group().replace(",", ""));
    }
    return out;
  }

  /** The words of a text, lower-cased, with "n't" spelled "not". */
  public static List<String> words(String s) {
    List<String> out = new ArrayList<>();
    Matcher m = WORD.matcher(s.toLowerCase(Locale.ROOT).replace("n't", " not").replace("’", "'"));
    while (m.find()) {
      out.add(m.group());
    }
    return out;
  }

  /** True when the text points at content it does not hold ("this", "the following", "below"). */
  public static boolean points(List<String> words) {
    return words.stream().anyMatch(POINTERS::contains);
  }

  /** Whose things the text speaks of: the persons of its possessives. */
  public static Set<String> owners(List<String> words) {
    Set<String> out = new HashSet<>();
    words.stream().map(OWNERS::get).filter(Objects::nonNull).forEach(out::add);
    return out;
  }

  /** The numbers a text spells out in words. */
  public static Set<String> numberWords(List<String> words) {
    Set<String> out = new HashSet<>();
    words.stream().filter(NUMBER_WORDS::contains).forEach(out::add);
    return out;
  }

  /**
   * How many sentences or questions a text has: a prompt that asks one more question needs an
   * answer to it too.
   */
  public static int sentences(String s) {
    String t = s.strip();
    if (t.isEmpty()) {
      return 0;
    }
    Matcher m = SENTENCE_END.matcher(t);
    int n = 0;
    int end = 0;
    while (m.find()) {
      n++;
      end = m.end();
    }
    return end < t.length() ? n + 1 : n;
  }

  /** How many negation words there are. */
  public static int negations(List<String> words) {
    return (int) words.stream().filter(NEGATIONS::contains).count();
  }

  /** Which negation words there are. */
  public static Set<String> negationSet(List<String> words) {
    Set<String> out = new HashSet<>();
    words.stream().filter(NEGATIONS::contains).forEach(out::add);
    return out;
  }

  /** Capitalised words not at a sentence start, lower-cased: names of people, places, products. */
  public static Set<String> names(String s) {
    Set<String> out = new HashSet<>();
    Matcher m = WORD.matcher(s);
    int previousEnd = -1;
    while (m.find()) {
      String w = m.group();
      String between = previousEnd < 0 ? "" : s.substring(previousEnd, m.start());
      boolean sentenceStart = previousEnd < 0 || between.matches(".*[.!?:\\n].*");
      if (!sentenceStart && Character.isUpperCase(w.codePointAt(0)) && !w.equals("I")) {
        out.add(w.toLowerCase(Locale.ROOT));
      }
      previousEnd = m.end();
    }
    return out;
  }

  /** The content words, stemmed: neither stop words nor negations. */
  public static List<String> content(List<String> words) {
    List<String> out = new ArrayList<>();
    for (String w : words) {
      if (!STOP.contains(w) && !NEGATIONS.contains(w)) {
        out.add(stem(w));
      }
    }
    return out;
  }

  private static String stem(String w) {
    for (String suffix : new String[] {"ing", "ed", "es", "s", "ly"}) {
      if (w.length() > 4 && w.endsWith(suffix)) {
        return w.substring(0, w.length() - suffix.length());
      }
    }
    return w;
  }
}
