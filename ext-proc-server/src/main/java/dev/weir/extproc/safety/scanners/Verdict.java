package dev.weir.extproc.safety.scanners;

import java.util.List;

/**
 * What one scanner said about one text: the categories it flagged (none: clean), or that it could
 * not say ({@code failure} names why: timeout, error status, unreadable answer, circuit open).
 */
public record Verdict(String scanner, List<String> categories, String failure) {
  public Verdict {
    categories = List.copyOf(categories);
  }

  static Verdict clean(String scanner) {
    return new Verdict(scanner, List.of(), null);
  }

  static Verdict failed(String scanner, String why) {
    return new Verdict(scanner, List.of(), why);
  }

  public boolean failed() {
    return failure != null;
  }

  public boolean flagged() {
    return failure == null && !categories.isEmpty();
  }
}
