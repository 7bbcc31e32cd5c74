package dev.weir.extproc.safety;

/**
 * How much of a streamed answer's end must wait for the next event: the shortest tail that could
 * still grow into a finding or a placeholder. Everything before it can go to the client now.
 */
final class HoldBack {
  /** Past this, a tail is released and checked as it is rather than held without end. */
  static final int MAX_TAIL = 16 * 1024;

  private HoldBack() {}

  /**
   * The offset up to which {@code text} can be released.
   *
   * @param scan true when detectors run on the answer
   * @param blocklist the answer's blocklist (phrases can span words), or null
   * @param placeholders the exchange's placeholders, or null when nothing was tokenized
   */
  static int safeEnd(String text, boolean scan, Blocklist blocklist, Placeholders placeholders) {
    int n = text.length();
    int cut = n;
    if (placeholders != null) {
      cut = placeholders.incompleteTail(text);
    }
    if (scan) {
      cut = Math.min(cut, trailingRun(text));
      int begin = text.lastIndexOf("-----BEGIN");
      // A PEM block is one finding from BEGIN to the END line's closing dashes.
      if (begin >= 0) {
        int end = text.indexOf("-----END", begin);
        if (end < 0 || text.indexOf("-----", end + 8) < 0) {
          cut = Math.min(cut, begin);
        }
      }
      if (blocklist != null && !blocklist.isEmpty()) {
        cut = Math.min(cut, blocklist.partialTail(text));
      }
    }
    return Math.max(cut, n - MAX_TAIL);
  }

  /**
   * Where the run of characters a value can be made of starts at the end of the text. Spaces end
   * a run, except a single space between digit or capital-letter groups (cards, IBANs, phones),
   * and a space at the very end after such a group, since the next group may follow.
   */
  static int trailingRun(String text) {
    int i = text.length();
    while (true) {
      while (i > 0 && valueChar(text.charAt(i - 1))) {
        i--;
      }
      if (i >= 2 && text.charAt(i - 1) == ' ' && groupChar(text.charAt(i - 2))
          && (i == text.length() || groupStart(text.charAt(i)))) {
        i--;
        continue;
      }
      return i;
    }
  }

  private static boolean valueChar(char c) {
    return !Character.isWhitespace(c) && "\"'`,;<>[]{}".indexOf(c) < 0;
  }

  private static boolean groupChar(char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || c == ')';
  }

  private static boolean groupStart(char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || c == '(' || c == '+';
  }
}
