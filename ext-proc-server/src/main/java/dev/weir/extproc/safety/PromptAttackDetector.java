package dev.weir.extproc.safety;

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
 * A scored heuristic for instruction-override and jailbreak phrasing: weighted signals (English,
 * German, French, Spanish, Italian phrase patterns; role-play framing; fake system turns; encoded
 * payloads) kept in {@code prompt-attacks.tsv}, summed over the folded text. It catches the common
 * phrasings, not a determined attacker; docs/benchmarks.md has its measured precision and recall.
 * Thread-safe.
 */
public final class PromptAttackDetector {
  public static final String CATEGORY = "prompt_attack";

  record Signal(double weight, Pattern pattern) {}

  private static final PromptAttackDetector DEFAULT = new PromptAttackDetector(load());

  private final List<Signal> signals;

  PromptAttackDetector(List<Signal> signals) {
    this.signals = List.copyOf(signals);
  }

  public static PromptAttackDetector standard() {
    return DEFAULT;
  }

  /** The sum of the weights of the signals the folded text shows. */
  public double score(String folded) {
    double score = 0;
    for (Signal s : signals) {
      if (s.pattern().matcher(folded).find()) {
        score += s.weight();
      }
    }
    return score;
  }

  static List<Signal> load() {
    try (InputStream in = PromptAttackDetector.class.getResourceAsStream("prompt-attacks.tsv")) {
      if (in == null) {
        throw new IllegalStateException("prompt-attacks.tsv is missing from the classpath");
      }
      List<Signal> out = new ArrayList<>();
      for (String line : new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8)).lines().toList()) {
        if (line.isBlank() || line.startsWith("#")) {
          continue;
        }
        String[] f = line.split("\t", 2);
        out.add(new Signal(Double.parseDouble(f[0]), Pattern.compile(f[1])));
      }
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
