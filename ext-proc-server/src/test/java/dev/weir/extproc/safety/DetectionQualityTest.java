package dev.weir.extproc.safety;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The quality bar over the shared labelled data (skipped where the data is absent):
 * validator kinds at precision 0.95 and recall 0.90; prompt attacks flag at most 1 % of benign
 * prompts and of 2,000 ordinary questions at the shipped threshold. Numbers: docs/benchmarks.md.
 */
class DetectionQualityTest {
  @Test
  void validatorKindsReachPrecision95AndRecall90OnPiiDev() throws Exception {
    Path file = DetectionQuality.data("pii-dev.jsonl");
    assumeTrue(file != null, "shared/data/pii-dev.jsonl not present");
    Map<String, DetectionQuality.Counts> counts = DetectionQuality.pii(file, Detectors.allBuiltIn());
    for (String type : DetectionQuality.VALIDATED.keySet()) {
      DetectionQuality.Counts c = counts.get(type);
      assertTrue(c.precision() >= 0.95 && c.recall() >= 0.90, type + " precision " + c.precision() + " recall "
          + c.recall() + "\n" + DetectionQuality.table(counts));
    }
  }

  @Test
  void promptAttackDefaultFlagsAtMostOnePercentOfBenignPrompts() throws Exception {
    Path injection = DetectionQuality.data("injection-dev.jsonl");
    Path qqp = DetectionQuality.data("qqp-dev.jsonl");
    assumeTrue(injection != null && qqp != null, "shared/data not present");
    double threshold = SafetyRules.DEFAULT_PROMPT_ATTACK_THRESHOLD;
    int flagged = 0;
    int benign = 0;
    for (var e : DetectionQuality.injection(injection, threshold).entrySet()) {
      if (e.getKey().endsWith("(benign)")) {
        flagged += e.getValue()[0];
        benign += e.getValue()[1];
      }
    }
    assertTrue(benign > 400 && flagged <= benign / 100, flagged + " of " + benign + " benign prompts flagged");
    int[] q = DetectionQuality.qqp(qqp, 2000, threshold);
    assertTrue(q[1] == 2000 && q[0] <= 20, q[0] + " of " + q[1] + " questions flagged");
  }
}
