package dev.weir.extproc.pipeline;

import com.fasterxml.jackson.databind.JsonNode;
import dev.weir.extproc.openai.Json;
import java.io.IOException;

/**
 * A piece of the answer a stage sees: the whole JSON body of a buffered answer, or the data of one
 * SSE event. Both are in the client's dialect whatever the backend spoke (the provider adapter
 * translated them first): OpenAI's for OpenAI clients, Anthropic's for {@code /v1/messages}. A stage
 * may drop it (streams only) or replace its data.
 */
public final class ResponseChunk {
  private final boolean streamed;
  private String data;
  private JsonNode json;
  private boolean parsed;
  private boolean dropped;
  private boolean replaced;
  private java.util.List<String> before = java.util.List.of();

  public ResponseChunk(String data, boolean streamed) {
    this.data = data;
    this.streamed = streamed;
  }

  /** True for one event of an SSE stream, false for a whole buffered body. */
  public boolean streamed() {
    return streamed;
  }

  /** The event's data, or the whole body; null for an SSE block without data (a comment). */
  public String data() {
    return data;
  }

  /** True for the stream's closing {@code [DONE]} event. */
  public boolean isDone() {
    return streamed && "[DONE]".equals(data);
  }

  /** The data parsed as JSON, or null when it is not JSON; parsed once, shared by every stage. */
  public JsonNode json() {
    if (!parsed) {
      parsed = true;
      if (data != null && !isDone()) {
        try {
          json = Json.MAPPER.readTree(data);
        } catch (IOException e) {
          json = null;
        }
      }
    }
    return json;
  }

  /** Keeps this event from the client (streams only). */
  public void drop() {
    dropped = true;
  }

  public boolean dropped() {
    return dropped;
  }

  /** Replaces the data (an edited event, or an edited buffered body). */
  public void replace(String newData) {
    data = newData;
    json = null;
    parsed = false;
    replaced = true;
  }

  public boolean replaced() {
    return replaced;
  }

  /** Sends another event ahead of this one (streams only), such as text held back until the end. */
  public void insertBefore(String eventData) {
    before = new java.util.ArrayList<>(before);
    before.add(eventData);
  }

  /** Events to send ahead of this one, in order. */
  public java.util.List<String> inserted() {
    return before;
  }
}
