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
  record Rule(String name, int group, double minEntropyBits, Pattern pattern, String literalHint) {}

  private static final SecretDetector DEFAULT = new SecretDetector(load());

  private final List<Rule> rules;

  SecretDetector(List<Rule> rules) {
    this.rules = List.copyOf(rules);
  }

  public static SecretDetector standard() {
    return DEFAULT;
  }

  public List<String> ruleNames() {
    return rules.stream().map(Rule::name).distinct().toList();
  }

  public void find(String text, String folded, List<Finding> out) {
    for (Rule r : rules) {
      // A cheap literal test first: most texts contain none of the rules' fixed prefixes.
      if (r.literalHint() != null && !(r.group() > 0 ? folded : text).contains(r.literalHint())) {
        continue;
      }
      Matcher m = r.pattern().matcher(text);
      int from = 0;
      while (from < text.length() && m.find(from)) {
        int s = m.start(r.group());
        int e = m.end(r.group());
        if (r.minEntropyBits() <= 0 || entropy(text, s, e) >= r.minEntropyBits()) {
          out.add(new Finding(CATEGORY, r.name(), s, e, 1.0));
        }
        from = Math.max(m.end(), m.start() + 1);
      }
    }
  }

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
      String[] f = line.split("\t", 4);
      if (f.length != 4) {
        throw new IllegalStateException("secrets.tsv: expected 4 tab-separated fields in: " + line);
      }
      rules.add(new Rule(f[0], Integer.parseInt(f[1]), Double.parseDouble(f[2]), Pattern.compile(f[3]), hint(f[3])));
    }
    return rules;
  }

  /** The pattern's leading literal (folded for keyword rules), used to skip texts quickly. */
  private static String hint(String regex) {
    if (regex.startsWith("(?i)")) {
      return null;
    }
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < regex.length(); i++) {
      char c = regex.charAt(i);
      if (Character.isLetterOrDigit(c) || c == '-' || c == '_') {
        b.append(c);
      } else {
        break;
      }
    }
    return b.length() >= 2 ? b.toString() : null;
  }
}
