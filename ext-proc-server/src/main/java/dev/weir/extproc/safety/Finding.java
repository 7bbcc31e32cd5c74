package dev.weir.extproc.safety;

/**
 * One detection in a text: its category (a bounded name such as {@code email} or
 * {@code secret}), the rule that found it, and its span in the text as given (UTF-16 offsets).
 */
public record Finding(String category, String rule, int start, int end, double score) {
  public Finding(String category, int start, int end) {
    this(category, category, start, end, 1.0);
  }

  public boolean overlaps(Finding o) {
    return start < o.end && o.start < end;
  }
}
