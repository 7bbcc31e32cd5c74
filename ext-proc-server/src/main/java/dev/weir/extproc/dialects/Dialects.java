package dev.weir.extproc.dialects;

import dev.weir.extproc.openai.Endpoint;

/** The dialect of each endpoint: one row per endpoint. */
public final class Dialects {
  private static final Dialect CHAT = new OpenAiDialect(Endpoint.CHAT_COMPLETIONS);
  private static final Dialect COMPLETIONS = new OpenAiDialect(Endpoint.COMPLETIONS);
  private static final Dialect EMBEDDINGS = new OpenAiDialect(Endpoint.EMBEDDINGS);
  private static final Dialect MODELS = new OpenAiDialect(Endpoint.MODELS);
  private static final Dialect RESPONSES = new ResponsesDialect();
  private static final Dialect MESSAGES = new AnthropicMessagesDialect();

  private Dialects() {}

  /** The dialect of an endpoint; OpenAI's for an unknown one (null), since that is what most clients speak. */
  public static Dialect of(Endpoint endpoint) {
    if (endpoint == null) {
      return CHAT;
    }
    return switch (endpoint) {
      case CHAT_COMPLETIONS -> CHAT;
      case COMPLETIONS -> COMPLETIONS;
      case EMBEDDINGS -> EMBEDDINGS;
      case MODELS -> MODELS;
      case RESPONSES -> RESPONSES;
      case MESSAGES -> MESSAGES;
    };
  }
}
