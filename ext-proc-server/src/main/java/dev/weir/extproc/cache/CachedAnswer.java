package dev.weir.extproc.cache;

import com.fasterxml.jackson.databind.JsonNode;
import dev.weir.extproc.openai.Json;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * One stored answer: the complete non-streamed answer in OpenAI's shape (an answer that streamed is
 * stored assembled), where it belongs, and what it cost, so a hit can report the tokens it saved.
 *
 * @param lastTurnText the prompt the semantic tier compares new prompts with; null when none
 */
public record CachedAnswer(String partition, String key, String lastTurnText, String answerJson,
    long promptTokens, long completionTokens, long createdMillis, long expiresAtMillis) {

  public boolean expired(long nowMillis) {
    return nowMillis >= expiresAtMillis;
  }

  public byte[] toBytes() {
    try {
      return Json.MAPPER.writeValueAsBytes(this);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The entry, or null when the bytes are not one (a foreign or older value is a miss). */
  public static CachedAnswer fromBytes(byte[] bytes) {
    try {
      CachedAnswer a = Json.MAPPER.readValue(bytes, CachedAnswer.class);
      return a.partition() == null || a.key() == null || a.answerJson() == null ? null : a;
    } catch (IOException e) {
      return null;
    }
  }

  JsonNode answer() {
    try {
      return Json.MAPPER.readTree(answerJson);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
