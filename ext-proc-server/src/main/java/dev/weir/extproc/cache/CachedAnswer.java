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
 * @param consumer the consumer whose exchange stored it, and {@code model} the model that answered:
 *     labels an admin flush selects entries by (the partition is a hash); null in older entries
 */
public record CachedAnswer(String partition, String key, String lastTurnText, String answerJson,
    long promptTokens, long completionTokens, long createdMillis, long expiresAtMillis, String consumer,
    String model) {

  /** Which entries a flush drops: those of this consumer and this model; a null field matches any. */
  public record Selector(String consumer, String model) {
    /** Every entry. */
    public static final Selector ALL = new Selector(null, null);

    public boolean matches(CachedAnswer a) {
      return (consumer == null || consumer.equals(a.consumer())) && (model == null || model.equals(a.model()));
    }

    /** The selector as one line of the replicas' channel: {@code consumer model}, {@code *} for any. */
    public String encode() {
      return enc(consumer) + " " + enc(model);
    }

    /** The selector {@link #encode} wrote, or null when the text is not one. */
    public static Selector decode(String consumerPart, String modelPart) {
      return new Selector(dec(consumerPart), dec(modelPart));
    }

    private static String enc(String s) {
      return s == null ? "*" : java.net.URLEncoder.encode(s, java.nio.charset.StandardCharsets.UTF_8);
    }

    private static String dec(String s) {
      return s.equals("*") ? null : java.net.URLDecoder.decode(s, java.nio.charset.StandardCharsets.UTF_8);
    }
  }

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
