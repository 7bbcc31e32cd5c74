package dev.weir.extproc.safety;

import java.text.Normalizer;

/**
 * A text as the detectors read it: NFKC-normalised with zero-width and soft-hyphen characters
 * removed (so "ｐａｓｓｗｏｒｄ" or "j\u200Bohn@x.com" do not slip past), plus a case- and
 * accent-folded copy of the same length, with every offset mapped back to the original.
 */
public final class NormalizedText {
  private final String original;
  private final String normalized;
  private final String folded;
  /** Original offset of each normalised char; one extra entry for the end. */
  private final int[] origin;

  private NormalizedText(String original, String normalized, String folded, int[] origin) {
    this.original = original;
    this.normalized = normalized;
    this.folded = folded;
    this.origin = origin;
  }

  public static NormalizedText of(String text) {
    int n = text.length();
    StringBuilder norm = new StringBuilder(n);
    StringBuilder fold = new StringBuilder(n);
    int[] origin = new int[n + 1];
    int k = 0;
    for (int i = 0; i < n; ) {
      int cp = text.codePointAt(i);
      int width = Character.charCount(cp);
      if (cp < 0x80) {
        origin = grow(origin, k + 1);
        origin[k++] = i;
        norm.append((char) cp);
        fold.append(cp >= 'A' && cp <= 'Z' ? (char) (cp + 32) : (char) cp);
      } else if (!invisible(cp)) {
        // Per code point: keeps the offset map exact; combining sequences split across
        // code points are rare in prompts and still fold by their base letter.
        String piece = Normalizer.normalize(new String(Character.toChars(cp)), Normalizer.Form.NFKC);
        for (int j = 0; j < piece.length(); j++) {
          origin = grow(origin, k + 1);
          origin[k++] = i;
          char c = piece.charAt(j);
          norm.append(c);
          fold.append(foldChar(c));
        }
      }
      i += width;
    }
    origin = grow(origin, k + 1);
    origin[k] = n;
    return new NormalizedText(text, norm.toString(), fold.toString(), origin);
  }

  private static int[] grow(int[] a, int need) {
    return need < a.length ? a : java.util.Arrays.copyOf(a, Math.max(need + 1, a.length * 2));
  }

  /** Zero-width space/joiners, word joiner, BOM, soft hyphen: invisible, used to split words. */
  static boolean invisible(int cp) {
    return (cp >= 0x200B && cp <= 0x200F) || cp == 0x2060 || cp == 0xFEFF || cp == 0x00AD
        || (cp >= 0x2061 && cp <= 0x2064) || cp == 0x180E;
  }

  /** Lower case without accents, one char for one char so offsets stay shared. */
  static char foldChar(char c) {
    if (c < 0x80) {
      return Character.toLowerCase(c);
    }
    if (Character.isSurrogate(c)) {
      return c;
    }
    String d = Normalizer.normalize(String.valueOf(c), Normalizer.Form.NFD);
    return Character.toLowerCase(d.charAt(0));
  }

  /** Folds a term the way {@link #folded()} folds text. */
  public static String fold(String term) {
    return of(term).folded();
  }

  public String original() {
    return original;
  }

  public String normalized() {
    return normalized;
  }

  public String folded() {
    return folded;
  }

  /** The original offset where normalised offset {@code i} starts. */
  public int originStart(int i) {
    return origin[i];
  }

  /** The original offset just past normalised char {@code end - 1}. */
  public int originEnd(int end) {
    if (end == 0) {
      return 0;
    }
    // The span ends after the whole code point its last char came from (NFKC may expand one).
    return nextOriginal(origin[end - 1]);
  }

  private int nextOriginal(int i) {
    return i + Character.charCount(original.codePointAt(i));
  }

  /** A finding on normalised offsets, mapped to the original text. */
  public Finding toOriginal(Finding f) {
    return new Finding(f.category(), f.rule(), originStart(f.start()), originEnd(f.end()), f.score());
  }
}
