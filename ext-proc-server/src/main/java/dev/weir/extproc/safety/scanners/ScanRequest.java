package dev.weir.extproc.safety.scanners;

import java.util.List;

/**
 * One text to check: all of it ({@code text}, what text:analyze, moderations and webhooks read), and
 * for prompts the user's turns and the tool/document turns apart (what text:shieldPrompt reads).
 *
 * @param direction {@code prompt} or {@code answer}
 */
public record ScanRequest(String direction, String model, String consumer, String text, String userPrompt,
    List<String> documents) {
  public ScanRequest {
    documents = List.copyOf(documents);
  }

  /** An answer, or a window of one: no user prompt or documents. */
  public static ScanRequest answer(String model, String consumer, String text) {
    return new ScanRequest("answer", model, consumer, text, "", List.of());
  }

  public boolean isPrompt() {
    return direction.equals("prompt");
  }
}
