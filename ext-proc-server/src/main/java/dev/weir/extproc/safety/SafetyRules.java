package dev.weir.extproc.safety;

import dev.weir.config.Defaults;
import dev.weir.config.v1.SafetyAction;
import dev.weir.config.v1.SafetyPattern;
import dev.weir.config.v1.SafetyPolicy;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The content-safety policy for one (consumer, model): the three levels' {@code safety} blocks
 * combined stricter-only, and the detectors it switches on, compiled once. Immutable.
 */
public final class SafetyRules {
  /** The shipped prompt-attack threshold, as config.proto declares it. */
  public static final double DEFAULT_PROMPT_ATTACK_THRESHOLD = Double.parseDouble(Defaults.declared(
      SafetyPolicy.getDescriptor().findFieldByName("promptAttackThreshold")).orElseThrow());

  /** No safety block at any level. */
  public static final SafetyRules NONE = new SafetyRules(Map.of(), Map.of(), List.of(),
      DEFAULT_PROMPT_ATTACK_THRESHOLD, 400, false, Map.of());

  /** A level's block, named for --explain. */
  public record Level(String name, SafetyPolicy policy) {}

  /** A category's action and the level that set it. */
  public record Rule(SafetyAction action, String level) {}

  private final Map<String, Rule> rules;
  private final Map<String, String> patterns;
  private final List<String> blockedTerms;
  private final double promptAttackThreshold;
  private final int blockStatus;
  private final boolean checkAnswers;
  private final Detectors detectors;
  /** External scanners by name, with the level that first switched each on. */
  private final Map<String, String> scanners;

  private SafetyRules(Map<String, Rule> rules, Map<String, String> patterns, List<String> blockedTerms,
      double promptAttackThreshold, int blockStatus, boolean checkAnswers, Map<String, String> scanners) {
    this.scanners = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(scanners));
    // In the order the levels set them, so --explain reads floor first.
    this.rules = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(rules));
    this.patterns = Map.copyOf(patterns);
    this.blockedTerms = List.copyOf(blockedTerms);
    this.promptAttackThreshold = promptAttackThreshold;
    this.blockStatus = blockStatus;
    this.checkAnswers = checkAnswers;
    Set<PiiDetector.Kind> kinds = EnumSet.noneOf(PiiDetector.Kind.class);
    for (PiiDetector.Kind k : PiiDetector.Kind.values()) {
      if (rules.containsKey(k.category())) {
        kinds.add(k);
      }
    }
    this.detectors = new Detectors(kinds, rules.containsKey(SecretDetector.CATEGORY),
        patterns.entrySet().stream().map(e -> Detectors.CustomPattern.of(e.getKey(), e.getValue())).toList(),
        rules.containsKey(Blocklist.CATEGORY) ? blockedTerms : List.of());
  }

  /** Combines the levels, floor first: the strictest action wins, lists add up. */
  public static SafetyRules resolve(List<Level> levels) {
    if (levels.isEmpty()) {
      return NONE;
    }
    Map<String, Rule> rules = new LinkedHashMap<>();
    Map<String, String> patterns = new LinkedHashMap<>();
    Set<String> terms = new LinkedHashSet<>();
    double threshold = Double.MAX_VALUE;
    int status = 400;
    boolean skip = true;
    Map<String, String> scanners = new LinkedHashMap<>();
    for (Level l : levels) {
      SafetyPolicy p = l.policy();
      p.getScannersList().forEach(s -> scanners.putIfAbsent(s, l.name()));
      stricter(rules, "email", p.getEmail(), l.name());
      stricter(rules, "phone", p.getPhone(), l.name());
      stricter(rules, "card", p.getCard(), l.name());
      stricter(rules, "iban", p.getIban(), l.name());
      stricter(rules, "ssn", p.getSsn(), l.name());
      stricter(rules, "ip", p.getIp(), l.name());
      stricter(rules, SecretDetector.CATEGORY, p.getSecrets(), l.name());
      // Terms without an action would do nothing; listing them is taken to mean "block".
      stricter(rules, Blocklist.CATEGORY, p.getBlocklist() == SafetyAction.SAFETY_ACTION_UNSPECIFIED
          && p.getBlockedTermsCount() > 0 ? SafetyAction.BLOCK : p.getBlocklist(), l.name());
      stricter(rules, PromptAttackDetector.CATEGORY, p.getPromptAttack(), l.name());
      if (p.getPromptAttack() != SafetyAction.SAFETY_ACTION_UNSPECIFIED) {
        threshold = Math.min(threshold, p.getPromptAttackThreshold());
      }
      terms.addAll(p.getBlockedTermsList());
      for (SafetyPattern sp : p.getPatternsList()) {
        String name = sp.getName().toLowerCase(Locale.ROOT);
        patterns.merge(name, sp.getRegex(), (a, b) -> "(?:" + a + ")|(?:" + b + ")");
        stricter(rules, name, sp.getAction(), l.name());
      }
      if (p.getBlockStatus() == 403) {
        status = 403;
      }
      skip &= p.getSkipAnswers();
    }
    return new SafetyRules(rules, patterns, new ArrayList<>(terms),
        threshold == Double.MAX_VALUE ? DEFAULT_PROMPT_ATTACK_THRESHOLD : threshold, status, !skip, scanners);
  }

  private static void stricter(Map<String, Rule> rules, String category, SafetyAction action, String level) {
    if (action == SafetyAction.SAFETY_ACTION_UNSPECIFIED || action == SafetyAction.UNRECOGNIZED) {
      return;
    }
    Rule had = rules.get(category);
    // Enum numbers order the actions from least to most strict (config.proto).
    if (had == null || action.getNumber() > had.action().getNumber()) {
      rules.put(category, new Rule(action, level));
    }
  }

  public boolean active() {
    return !rules.isEmpty() || !scanners.isEmpty();
  }

  /** Names of the external scanners switched on, floor first. */
  public List<String> scanners() {
    return List.copyOf(scanners.keySet());
  }

  /** The action for a category, or null when its detector is off. */
  public SafetyAction action(String category) {
    Rule r = rules.get(category);
    return r == null ? null : r.action();
  }

  public Map<String, Rule> rules() {
    return rules;
  }

  public Detectors detectors() {
    return detectors;
  }

  public boolean promptAttackOn() {
    return rules.containsKey(PromptAttackDetector.CATEGORY);
  }

  public double promptAttackThreshold() {
    return promptAttackThreshold;
  }

  public int blockStatus() {
    return blockStatus;
  }

  public boolean checkAnswers() {
    return checkAnswers;
  }

  /** True when some detector could find something in an answer (so a stream holds back its tail). */
  public boolean scansAnswers() {
    return checkAnswers && rules.keySet().stream().anyMatch(c -> !c.equals(PromptAttackDetector.CATEGORY));
  }

  /** The policy in words, one line per detector, for --explain. */
  public List<String> describe() {
    List<String> out = new ArrayList<>();
    rules.forEach((category, r) -> {
      String name = r.action().name().toLowerCase(Locale.ROOT);
      String extra = category.equals(PromptAttackDetector.CATEGORY) ? " at score >= " + promptAttackThreshold
          : category.equals(Blocklist.CATEGORY) ? " (" + blockedTerms.size() + (blockedTerms.size() == 1 ? " term)" : " terms)")
          : patterns.containsKey(category) ? " (pattern)" : "";
      out.add(String.format(Locale.ROOT, "%-16s %-9s %-8s%s", category, name, r.level(), extra).stripTrailing());
    });
    scanners.forEach((name, level) -> out.add(String.format(Locale.ROOT, "%-16s %s (%s)", "scanner", name, level)));
    out.add("block status " + blockStatus + "; answers " + (checkAnswers ? "checked" : "not checked"));
    return out;
  }
}
