package dev.weir.extproc.safety;

import com.google.re2j.Matcher;
import com.google.re2j.Pattern;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Set;

/**
 * The in-process detectors one policy switched on, run over one text: normalise once, run each
 * detector on the normalised (or folded) text, map the findings back to the original offsets and
 * keep the longest of overlapping ones. Thread-safe; built once per resolved policy.
 */
public final class Detectors {
  /** A configured pattern: findings are reported under its name. */
  public record CustomPattern(String name, Pattern pattern) {
    public static CustomPattern of(String name, String regex) {
      return new CustomPattern(name, Pattern.compile(regex));
    }
  }

  private final PiiDetector pii;
  private final SecretDetector secrets;
  private final List<CustomPattern> patterns;
  private final Blocklist blocklist;

  public Detectors(Set<PiiDetector.Kind> piiKinds, boolean secrets, List<CustomPattern> patterns,
      Collection<String> blockedTerms) {
    this.pii = new PiiDetector(piiKinds);
    this.secrets = secrets ? SecretDetector.standard() : null;
    this.patterns = List.copyOf(patterns);
    this.blocklist = new Blocklist(blockedTerms);
  }

  /** Every PII kind and secrets, no patterns, no blocklist. */
  public static Detectors allBuiltIn() {
    return new Detectors(Set.of(PiiDetector.Kind.values()), true, List.of(), List.of());
  }

  public Blocklist blocklist() {
    return blocklist;
  }

  /** Findings in {@code text}, on its own offsets, sorted, without overlaps. */
  public List<Finding> scan(String text) {
    return scan(NormalizedText.of(text));
  }

  public List<Finding> scan(NormalizedText t) {
    List<Finding> found = new ArrayList<>();
    String norm = t.normalized();
    if (secrets != null) {
      secrets.find(norm, t.folded(), found);
    }
    pii.find(norm, found);
    for (CustomPattern p : patterns) {
      Matcher m = p.pattern().matcher(norm);
      int from = 0;
      while (from < norm.length() && m.find(from)) {
        if (m.end() > m.start()) {
          found.add(new Finding(p.name(), m.start(), m.end()));
        }
        from = Math.max(m.end(), m.start() + 1);
      }
    }
    blocklist.find(t.folded(), found);
    return resolve(found, t);
  }

  /** Longest first, then earliest; a finding overlapping a kept one is dropped. */
  private static List<Finding> resolve(List<Finding> found, NormalizedText t) {
    if (found.isEmpty()) {
      return List.of();
    }
    found.sort(Comparator.comparingInt((Finding f) -> f.start() - f.end()).thenComparingInt(Finding::start));
    List<Finding> kept = new ArrayList<>();
    for (Finding f : found) {
      if (kept.stream().noneMatch(f::overlaps)) {
        kept.add(f);
      }
    }
    kept.sort(Comparator.comparingInt(Finding::start));
    List<Finding> out = new ArrayList<>(kept.size());
    for (Finding f : kept) {
      out.add(t.toOriginal(f));
    }
    return out;
  }
}
