package dev.weir.extproc.telemetry;

import dev.weir.extproc.pipeline.ExchangeState;
import dev.weir.extproc.policy.PolicySets;
import dev.weir.extproc.safety.Finding;
import dev.weir.extproc.safety.Placeholders;
import dev.weir.extproc.safety.SafetyRules;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Prompt and answer text for usage events, when a content-logging policy samples the exchange:
 * the prompt as the backend got it (after the safety stage's masking), the answer as the client got
 * it; then every finding of the exchange's safety detectors is masked in both, whatever its
 * action (a value the client may see need not be in a log), and each is cut to the size cap.
 */
final class ContentLog {
  private ContentLog() {}

  /** Puts the exchange's prompt and answer into its record if its policy samples it. */
  static void capture(ExchangeState exchange, String bufferedAnswer) {
    if (exchange.caller() == null || exchange.request() == null) {
      return;
    }
    String consumer = exchange.caller().name();
    String model = exchange.request().model();
    PolicySets policies = exchange.gateway().limiter().policies();
    PolicySets.LoggingRule rule = policies.contentLogging(consumer, model);
    if (rule.sampleRatio() <= 0 || ThreadLocalRandom.current().nextDouble() >= rule.sampleRatio()) {
      return;
    }
    SafetyRules safety = policies.resolve(consumer, model).safety();
    String prompt = mask(exchange.request().body().toString(), safety);
    String answer = mask(bufferedAnswer != null ? bufferedAnswer : exchange.answerText().toString(), safety);
    boolean cut = prompt.length() > rule.maxChars() || answer.length() > rule.maxChars();
    exchange.record().content(cap(prompt, rule.maxChars()), cap(answer, rule.maxChars()), cut);
  }

  static String mask(String text, SafetyRules safety) {
    if (!safety.active() || text.isEmpty()) {
      return text;
    }
    List<Finding> findings = safety.detectors().scan(text);
    if (findings.isEmpty()) {
      return text;
    }
    StringBuilder out = new StringBuilder(text.length());
    int at = 0;
    for (Finding f : findings) {
      if (f.start() < at) {
        continue;
      }
      out.append(text, at, f.start()).append(Placeholders.mask(f.category()));
      at = f.end();
    }
    return out.append(text, at, text.length()).toString();
  }

  private static String cap(String s, int maxChars) {
    if (s.length() <= maxChars) {
      return s;
    }
    int end = maxChars;
    if (end > 0 && Character.isHighSurrogate(s.charAt(end - 1))) {
      end--;
    }
    return s.substring(0, end);
  }
}
