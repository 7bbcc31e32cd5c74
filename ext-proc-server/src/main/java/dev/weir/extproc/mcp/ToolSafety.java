package dev.weir.extproc.mcp;

import com.fasterxml.jackson.databind.JsonNode;
import dev.weir.config.v1.SafetyAction;
import dev.weir.extproc.GatewayRuntime;
import dev.weir.extproc.safety.Finding;
import dev.weir.extproc.safety.NormalizedText;
import dev.weir.extproc.safety.PromptAttackDetector;
import dev.weir.extproc.safety.SafetyRules;
import java.util.Set;
import java.util.TreeSet;

/**
 * Content safety on tool traffic: the consumer's resolved safety policy (global, then consumer;
 * docs/safety.md) run over every string of a call's arguments and of its result, with the same
 * detectors as prompts and answers. A tool result is where indirect prompt injection arrives, so
 * the prompt-attack detector reads results too. A tool message is JSON the server or client
 * executes, so nothing is rewritten in it: a category whose action is block, mask or tokenize
 * refuses the message; monitor only counts.
 */
final class ToolSafety {
  private final GatewayRuntime gateway;

  ToolSafety(GatewayRuntime gateway) {
    this.gateway = gateway;
  }

  /** Why the arguments are refused, or null. */
  String checkArguments(String consumer, JsonNode arguments) {
    return check(consumer, arguments, "call's arguments were", true);
  }

  /** Why the result is refused, or null. */
  String checkResult(String consumer, JsonNode result) {
    return check(consumer, result, "result was", false);
  }

  private String check(String consumer, JsonNode node, String what, boolean request) {
    SafetyRules rules = gateway.limiter().policies().resolve(consumer, "").safety();
    if (node == null || !rules.active() || (!request && !rules.checkAnswers())) {
      return null;
    }
    Set<String> refused = new TreeSet<>();
    visit(node, text -> {
      if (rules.promptAttackOn()
          && PromptAttackDetector.standard().score(NormalizedText.fold(text)) >= rules.promptAttackThreshold()
          && rules.action(PromptAttackDetector.CATEGORY) == SafetyAction.BLOCK) {
        refused.add(PromptAttackDetector.CATEGORY);
      }
      for (Finding f : rules.detectors().scan(text)) {
        SafetyAction action = rules.action(f.category());
        if (action == SafetyAction.BLOCK || action == SafetyAction.MASK || action == SafetyAction.TOKENIZE) {
          refused.add(f.category());
        }
      }
    });
    return refused.isEmpty() ? null
        : "The tool " + what + " blocked by the content-safety policy (" + String.join(", ", refused) + ").";
  }

  private static void visit(JsonNode node, java.util.function.Consumer<String> text) {
    if (node.isTextual()) {
      text.accept(node.asText());
    } else if (node.isContainerNode()) {
      node.forEach(child -> visit(child, text));
    }
  }
}
