package dev.weir.extproc.safety;

import java.text.Normalizer;
import java.util.Arrays;

/**
 * A text as the detectors read it: NFKC-normalised with zero-width and soft-hyphen characters
 * removed (so "ｐａｓｓｗｏｒｄ" or "j\u200Bohn@x.com" do not slip past), plus a case- and
 * accent-folded copy of the same length, with every offset mapped back to the original.
 */
public final class NormalizedText {
  private final String original;
  private final String normalized;
  private final String folded;
  /** Original offset of each normalised char, one extra entry for the end; null when they are the same (ASCII). */
  private final int[] origin;

  private NormalizedText(String original, String normalized, String folded, int[] origin) {
    this.original = original;
    this.normalized = normalized;
    this.folded = folded;
    this.origin = origin;
  }

  public static NormalizedText of(String text) {
    int n = text.length();
    int i = 0;
    while (i < n && text.charAt(i) < 0x80) {
      i++;
    }
    if (i == n) {
      // Plain ASCII (most prompts): NFKC changes nothing and offsets are the identity.
      return new NormalizedText(text, text, asciiLower(text), null);
    }
    char[] norm = new char[n + 16];
    char[] fold = new char[n + 16];
    int[] origin = new int[n + 17];
    int k = 0;
    for (int j = 0; j < i; j++) {
      char c = text.charAt(j);
      norm[j] = c;
      fold[j] = c >= 'A' && c <= 'Z' ? (char) (c + 32) : c;
      origin[j] = j;
    }
    k = i;
    while (i < n) {
      char c = text.charAt(i);
      if (c < 0x80) {
        if (k + 1 >= norm.length) {
          norm = Arrays.copyOf(norm, norm.length * 2);
          fold = Arrays.copyOf(fold, norm.length);
          origin = Arrays.copyOf(origin, norm.length + 1);
        }
        origin[k] = i;
        norm[k] = c;
        fold[k++] = c >= 'A' && c <= 'Z' ? (char) (c + 32) : c;
        i++;
        continue;
      }
      int cp = text.codePointAt(i);
      int width = Character.charCount(cp);
      if (!invisible(cp)) {
        // Per code point: keeps the offset map exact; combining sequences split across
        // code points are rare in prompts and still fold by their base letter.
        String piece = nfkc(cp);
        if (k + piece.length() >= norm.length) {
          int size = Math.max(norm.length * 2, k + piece.length() + 16);
          norm = Arrays.copyOf(norm, size);
          fold = Arrays.copyOf(fold, size);
          origin = Arrays.copyOf(origin, size + 1);
        }
        for (int j = 0; j < piece.length(); j++) {
          char p = piece.charAt(j);
          origin[k] = i;
          norm[k] = p;
          fold[k++] = foldChar(p);
        }
      }
      i += width;
    }
    origin[k] = n;
    return new NormalizedText(text, new String(norm, 0, k), new String(fold, 0, k), origin);
  }

  /** NFKC of single BMP code points, computed once each: prompts repeat the same few non-ASCII characters. */
  private static final String[] NFKC_BMP = new String[0x10000];
  /** Folded BMP chars plus one, computed once each (0: not yet). */
  private static final char[] FOLD_BMP = new char[0x10000];

  private static String nfkc(int cp) {
    if (cp >= 0x10000) {
      return Normalizer.normalize(new String(Character.toChars(cp)), Normalizer.Form.NFKC);
    }
    String s = NFKC_BMP[cp];
    if (s == null) {
      // A benign race: two threads may both compute the same immutable value.
      s = Normalizer.normalize(String.valueOf((char) cp), Normalizer.Form.NFKC);
      NFKC_BMP[cp] = s;
    }
    return s;
  }

  private static String asciiLower(String text) {
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c >= 'A' && c <= 'Z') {
        char[] out = text.toCharArray();
        for (int j = i; j < out.length; j++) {
          char d = out[j];
          out[j] = d >= 'A' && d <= 'Z' ? (char) (d + 32) : d;
        }
        return new String(out);
      }
    }
    return text;
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
    char f = FOLD_BMP[c];
    if (f == 0) {
      String d = Normalizer.normalize(String.valueOf(c), Normalizer.Form.NFD);
      f = (char) (Character.toLowerCase(d.charAt(0)) + 1);
      FOLD_BMP[c] = f;
    }
    return (char) (f - 1);
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
    return origin == null ? i : origin[i];
  }

  /** The original offset just past normalised char {@code end - 1}. */
  public int originEnd(int end) {
    if (end == 0) {
      return 0;
    }
    // The span ends after the whole code point its last char came from (NFKC may expand one).
    return origin == null ? end : nextOriginal(origin[end - 1]);
  }

  private int nextOriginal(int i) {
    return i + Character.charCount(original.codePointAt(i));
  }

  /** A finding on normalised offsets, mapped to the original text. */
  public Finding toOriginal(Finding f) {
    return new Finding(f.category(), f.rule(), originStart(f.start()), originEnd(f.end()), f.score());
  }
}
