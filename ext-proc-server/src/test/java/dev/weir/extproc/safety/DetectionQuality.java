package dev.weir.extproc.safety;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/** Precision and recall of the detectors over the shared labelled data sets. */
final class DetectionQuality {
  static final ObjectMapper JSON = new ObjectMapper();
  /** Dataset labels of the kinds a validator checks, by our category. */
  static final Map<String, String> VALIDATED = Map.of("CREDIT_CARD", "card", "IBAN_CODE", "iban",
      "EMAIL_ADDRESS", "email", "PHONE_NUMBER", "phone", "US_SSN", "ssn", "IP_ADDRESS", "ip");

  /** Counts for one type. */
  static final class Counts {
    int labelled;
    int labelledFound;
    int found;
    int truePositives;

    double precision() {
      return found == 0 ? 1.0 : (double) truePositives / found;
    }

    double recall() {
      return labelled == 0 ? 1.0 : (double) labelledFound / labelled;
    }
  }

  static Path data(String file) {
    for (Path p : List.of(Path.of("../shared/data", file), Path.of("../../shared/data", file),
        Path.of("/work/shared/data", file))) {
      if (Files.exists(p)) {
        return p;
      }
    }
    return null;
  }

  /** Per dataset type (labels of the validated kinds), precision over our findings of that kind. */
  static Map<String, Counts> pii(Path file, Detectors detectors) throws IOException {
    Map<String, Counts> out = new TreeMap<>();
    for (String line : Files.readAllLines(file)) {
      JsonNode row = JSON.readTree(line);
      String text = row.get("text").asText();
      List<Finding> findings = detectors.scan(text);
      List<JsonNode> spans = new ArrayList<>();
      row.get("spans").forEach(spans::add);
      for (JsonNode s : spans) {
        String type = s.get("type").asText();
        Counts c = out.computeIfAbsent(type, k -> new Counts());
        c.labelled++;
        String ours = VALIDATED.get(type);
        if (ours != null && findings.stream().anyMatch(f -> f.category().equals(ours)
            && f.start() < s.get("end").asInt() && s.get("start").asInt() < f.end())) {
          c.labelledFound++;
        }
      }
      for (Finding f : findings) {
        String type = VALIDATED.entrySet().stream().filter(e -> e.getValue().equals(f.category()))
            .map(Map.Entry::getKey).findFirst().orElse(f.category());
        Counts c = out.computeIfAbsent(type, k -> new Counts());
        c.found++;
        boolean right = spans.stream().anyMatch(s -> s.get("type").asText().equals(type)
            && f.start() < s.get("end").asInt() && s.get("start").asInt() < f.end());
        if (right) {
          c.truePositives++;
        }
      }
    }
    return out;
  }

  /** Injection results per source: flagged / rows. */
  static Map<String, int[]> injection(Path file, double threshold) throws IOException {
    Map<String, int[]> out = new TreeMap<>();
    PromptAttackDetector d = PromptAttackDetector.standard();
    for (String line : Files.readAllLines(file)) {
      JsonNode row = JSON.readTree(line);
      String key = row.get("source").asText() + " (" + row.get("label").asText() + ")";
      int[] c = out.computeIfAbsent(key, k -> new int[2]);
      c[1]++;
      if (d.score(NormalizedText.of(row.get("text").asText()).folded()) >= threshold) {
        c[0]++;
      }
    }
    return out;
  }

  /** Flagged questions among the first {@code n} "a" questions of qqp-dev. */
  static int[] qqp(Path file, int n, double threshold) throws IOException {
    int flagged = 0;
    int seen = 0;
    PromptAttackDetector d = PromptAttackDetector.standard();
    for (String line : Files.readAllLines(file)) {
      if (seen == n) {
        break;
      }
      seen++;
      if (d.score(NormalizedText.of(JSON.readTree(line).get("a").asText()).folded()) >= threshold) {
        flagged++;
      }
    }
    return new int[] {flagged, seen};
  }

  static String table(Map<String, Counts> pii) {
    StringBuilder b = new StringBuilder("| type | labelled | found | precision | recall |\n|---|---:|---:|---:|---:|\n");
    pii.forEach((type, c) -> b.append(String.format(Locale.ROOT, "| %s | %d | %d | %s | %s |%n", type, c.labelled,
        c.found, c.found == 0 ? "-" : String.format(Locale.ROOT, "%.3f", c.precision()),
        VALIDATED.containsKey(type) ? String.format(Locale.ROOT, "%.3f", c.recall()) : "- (no in-process model)")));
    return b.toString();
  }

  public static void main(String[] args) throws IOException {
    double threshold = args.length > 0 ? Double.parseDouble(args[0]) : 1.0;
    System.out.println(table(pii(data("pii-dev.jsonl"), Detectors.allBuiltIn())));
    injection(data("injection-dev.jsonl"), threshold).forEach((k, v) ->
        System.out.printf(Locale.ROOT, "%s: %d/%d flagged%n", k, v[0], v[1]));
    int[] q = qqp(data("qqp-dev.jsonl"), 2000, threshold);
    System.out.printf(Locale.ROOT, "qqp: %d/%d flagged%n", q[0], q[1]);
  }
}
