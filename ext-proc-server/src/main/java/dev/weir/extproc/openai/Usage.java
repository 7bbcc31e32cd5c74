package dev.weir.extproc.openai;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * Token usage as a backend reported it; detail fields are -1 when the backend did not report them
 * (so "0 reasoning tokens" and "not reported" stay different).
 */
public record Usage(long promptTokens, long completionTokens, long totalTokens,
    long reasoningTokens, long cachedPromptTokens) {

  /** Reads an OpenAI {@code usage} object; null when the node is missing or not an object. */
  public static Usage from(JsonNode usage) {
    if (usage == null || !usage.isObject()) {
      return null;
    }
    long prompt = usage.path("prompt_tokens").asLong(0);
    long completion = usage.path("completion_tokens").asLong(0);
    long total = usage.has("total_tokens") ? usage.path("total_tokens").asLong() : prompt + completion;
    long reasoning = usage.path("completion_tokens_details").path("reasoning_tokens").asLong(-1);
    long cached = usage.path("prompt_tokens_details").path("cached_tokens").asLong(-1);
    return new Usage(prompt, completion, total, reasoning, cached);
  }
}
