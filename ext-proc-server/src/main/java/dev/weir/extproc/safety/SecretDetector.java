package dev.weir.extproc.safety;

import com.google.re2j.Matcher;
import com.google.re2j.Pattern;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Credentials in text: provider API keys, PEM private keys, JWTs and high-entropy values next to
 * words like "password". The rules live in {@code secrets.tsv} beside this class, not in code, so
 * a new key format is one line. Thread-safe.
 */
public final class SecretDetector {
  public static final String CATEGORY = "secret";

  /** One rule: the secret is capture group {@code group}, with at least this much entropy. */
  /**
   * One rule. Its pattern is anchored at a window's start with up to {@link #HINT_REACH}
   * characters allowed before the match, so the search gives up as soon as no match can start in
   * reach instead of scanning the window to its end; the secret is capture group {@code group + 1}.
   */
  record Rule(String name, int group, double minEntropyBits, Pattern anchored, List<String> hints, int maxLength) {}

  private static final SecretDetector DEFAULT = new SecretDetector(load());

  private final List<Rule> rules;

  SecretDetector(List<Rule> rules) {
    this.rules = List.copyOf(rules);
  }

  public static SecretDetector standard() {
    return DEFAULT;
  }

  public void find(String text, String folded, List<Finding> out) {
    for (Rule r : rules) {
      // Most texts hold none of a rule's hints; where one stands, the pattern runs from just
      // before it, so a 4 KB prompt costs a few index scans, not a pattern run per rule.
      int searchedTo = -1;
      for (String hint : r.hints()) {
        for (int at = folded.indexOf(hint); at >= 0; at = folded.indexOf(hint, at + 1)) {
          int from = Math.max(0, at - HINT_REACH);
          if (from < searchedTo) {
            from = searchedTo;
          }
          if (from > at) {
            continue;
          }
          Matcher m = r.anchored().matcher(text.substring(from, Math.min(text.length(), at + r.maxLength())));
          if (m.find()) {
            int s = from + m.start(r.group() + 1);
            int e = from + m.end(r.group() + 1);
            if (r.minEntropyBits() <= 0 || entropy(text, s, e) >= r.minEntropyBits()) {
              Finding f = new Finding(CATEGORY, r.name(), s, e, 1.0);
              if (!out.contains(f)) {
                out.add(f);
              }
            }
            searchedTo = Math.max(searchedTo, from + m.end());
          }
        }
      }
    }
  }

  /** How far before its hint a match may start ("db_password" has its hint at 3). */
  static final int HINT_REACH = 32;

  /** Shannon entropy in bits per character. */
  static double entropy(String s, int start, int end) {
    int[] counts = new int[128];
    int other = 0;
    for (int i = start; i < end; i++) {
      char c = s.charAt(i);
      if (c < 128) {
        counts[c]++;
      } else {
        other++;
      }
    }
    double n = end - start;
    double h = 0;
    for (int c : counts) {
      if (c > 0) {
        h -= c / n * (Math.log(c / n) / Math.log(2));
      }
    }
    if (other > 0) {
      h -= other / n * (Math.log(other / n) / Math.log(2));
    }
    return h;
  }

  static List<Rule> load() {
    try (InputStream in = SecretDetector.class.getResourceAsStream("secrets.tsv")) {
      if (in == null) {
        throw new IllegalStateException("secrets.tsv is missing from the classpath");
      }
      return parse(new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8)).lines().toList());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static List<Rule> parse(List<String> lines) {
    List<Rule> rules = new ArrayList<>();
    for (String line : lines) {
      if (line.isBlank() || line.startsWith("#")) {
        continue;
      }
      String[] f = line.split("\t", 5);
      if (f.length != 5) {
        throw new IllegalStateException("secrets.tsv: expected 5 tab-separated fields in: " + line);
      }
      // A multi-line rule (a PEM block) may run for kilobytes; a key or token is one short word.
      int maxLength = f[4].contains("[\\s\\S]") ? 16 * 1024 : 1024;
      Pattern anchored = Pattern.compile("^[\\s\\S]{0," + HINT_REACH + "}?(" + f[4] + ")");
      rules.add(new Rule(f[0], Integer.parseInt(f[1]), Double.parseDouble(f[2]), anchored,
          List.of(f[3].split(",")), maxLength));
    }
    return rules;
  }

}
