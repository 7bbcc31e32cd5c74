package dev.weir.config;

import java.util.ArrayList;
import java.util.List;

/** HTTP statuses written as single codes ("429") and inclusive ranges ("500-599"), as breaker rules name them. */
public final class StatusRanges {
  /** What a breaker counts when its rule lists no statuses. */
  public static final List<String> DEFAULT = List.of("429", "500-599");
  private final List<int[]> ranges;

  private StatusRanges(List<int[]> ranges) {
    this.ranges = ranges;
  }

  /** Parses {@code specs}, or {@link #DEFAULT} when empty; a bad entry is an IllegalArgumentException naming it. */
  public static StatusRanges parse(List<String> specs) {
    List<int[]> out = new ArrayList<>();
    for (String spec : specs.isEmpty() ? DEFAULT : specs) {
      String s = spec.strip();
      int dash = s.indexOf('-');
      int from = code(dash < 0 ? s : s.substring(0, dash), spec);
      int to = dash < 0 ? from : code(s.substring(dash + 1), spec);
      if (to < from) {
        throw new IllegalArgumentException("\"" + spec + "\" is an empty range");
      }
      out.add(new int[] {from, to});
    }
    return new StatusRanges(List.copyOf(out));
  }

  private static int code(String digits, String spec) {
    String d = digits.strip();
    if (!d.matches("[1-5][0-9][0-9]")) {
      throw new IllegalArgumentException("\"" + spec + "\" is not a status (100-599) or a range like \"500-599\"");
    }
    return Integer.parseInt(d);
  }

  public boolean matches(int status) {
    for (int[] r : ranges) {
      if (status >= r[0] && status <= r[1]) {
        return true;
      }
    }
    return false;
  }
}
