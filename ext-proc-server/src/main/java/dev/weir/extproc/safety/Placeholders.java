package dev.weir.extproc.safety;

import com.google.re2j.Matcher;
import com.google.re2j.Pattern;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

/**
 * One exchange's reversible placeholders: the model sees {@code <EMAIL_1>}, the client sees its
 * own value again. The same value always gets the same placeholder, numbered per type in order of
 * appearance, so a conversation resent turn after turn numbers its values the same way each time.
 */
public final class Placeholders {
  private static final Pattern PLACEHOLDER = Pattern.compile("<([A-Z][A-Z0-9_]*)_([0-9]{1,6})>");
  private static final Pattern PARTIAL = Pattern.compile("<(?:[A-Z][A-Z0-9_]*)?$");
  /** Longest placeholder a stream may have to hold back while it is incomplete. */
  static final int LONGEST = 48;

  private final Map<String, String> byValue = new HashMap<>();
  private final Map<String, String> byPlaceholder = new HashMap<>();
  private final Map<String, Integer> counters = new HashMap<>();

  /** The type name in a placeholder: the category upper-cased, other characters as '_'. */
  public static String typeName(String category) {
    return category.toUpperCase(Locale.ROOT).replaceAll("[^A-Z0-9]", "_");
  }

  /** The fixed, irreversible placeholder of {@code mask}. */
  public static String mask(String category) {
    return "<" + typeName(category) + ">";
  }

  public String tokenize(String category, String value) {
    String known = byValue.get(value);
    if (known != null) {
      return known;
    }
    String type = typeName(category);
    int n = counters.merge(type, 1, Integer::sum);
    String placeholder = "<" + type + "_" + n + ">";
    byValue.put(value, placeholder);
    byPlaceholder.put(placeholder, value);
    return placeholder;
  }

  public boolean isEmpty() {
    return byPlaceholder.isEmpty();
  }

  /**
   * The text with every known placeholder replaced by its value; {@code jsonString} escapes the
   * values for the inside of a JSON string (tool-call arguments are JSON text).
   */
  public String restore(String text, boolean jsonString) {
    if (byPlaceholder.isEmpty() || text.indexOf('<') < 0) {
      return text;
    }
    Matcher m = PLACEHOLDER.matcher(text);
    StringBuilder out = new StringBuilder(text.length());
    int last = 0;
    while (m.find()) {
      String value = byPlaceholder.get(m.group());
      if (value != null) {
        out.append(text, last, m.start()).append(jsonString ? jsonEscape(value) : value);
        last = m.end();
      }
    }
    return last == 0 ? text : out.append(text, last, text.length()).toString();
  }

  /** Where an unfinished placeholder starts at the end of {@code text}, or its length. */
  public int incompleteTail(String text) {
    int lt = text.lastIndexOf('<');
    if (lt < 0 || text.length() - lt > LONGEST || !PARTIAL.matcher(text.substring(lt)).find()) {
      return text.length();
    }
    return lt;
  }

  static String jsonEscape(String value) {
    return new String(com.fasterxml.jackson.core.io.JsonStringEncoder.getInstance().quoteAsString(value));
  }
}
