package dev.weir.extproc.providers;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weir.extproc.openai.Endpoint;
import dev.weir.extproc.openai.ParsedRequest;
import dev.weir.extproc.routing.BackendTarget;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Anthropic's Messages API ({@code POST /v1/messages}, {@code x-api-key}, {@code anthropic-version}).
 * OpenAI chat completions are translated to Messages and the answers back (JSON and SSE), so any
 * OpenAI SDK can use Claude, and a pool can fail over between an OpenAI-speaking deployment and
 * Anthropic with the client seeing one shape. Native Messages requests ({@code /v1/messages} from
 * Anthropic SDKs) pass through with the member's model name.
 */
public final class AnthropicAdapter implements ProviderAdapter {
  /** The Messages API version sent when the backend's {@code apiVersion} is unset. */
  public static final String DEFAULT_VERSION = "2023-06-01";
  /** Anthropic requires max_tokens; sent when neither the request nor the backend sets it. */
  public static final int DEFAULT_MAX_TOKENS = 4096;

  @Override
  public boolean serves(Endpoint endpoint) {
    return endpoint == Endpoint.CHAT_COMPLETIONS || endpoint == Endpoint.MESSAGES;
  }

  @Override
  public AttemptPlan plan(Attempt attempt) {
    BackendTarget backend = attempt.backend();
    Map<String, String> set = new LinkedHashMap<>();
    set.put("x-api-key", backend.credential());
    set.put("anthropic-version", backend.apiVersion().isEmpty() ? DEFAULT_VERSION : backend.apiVersion());
    boolean translate = attempt.endpoint() == Endpoint.CHAT_COMPLETIONS;
    boolean rename = !attempt.upstreamModel().equals(attempt.requestedModel());
    return new AttemptPlan(backend.basePath() + "/v1/messages", set, ProviderAdapters.strippedHeaders(set, attempt.backend()),
        translate || rename);
  }

  @Override
  public byte[] rewriteBody(Attempt attempt, ObjectNode clientBody) {
    if (attempt.endpoint() != Endpoint.CHAT_COMPLETIONS) {
      clientBody.put("model", attempt.upstreamModel());
      return dev.weir.extproc.openai.Json.bytes(clientBody);
    }
    int maxTokens = attempt.backend().defaultMaxTokens() > 0 ? attempt.backend().defaultMaxTokens()
        : DEFAULT_MAX_TOKENS;
    return dev.weir.extproc.openai.Json.bytes(
        AnthropicRequests.fromChatCompletion(clientBody, attempt.upstreamModel(), maxTokens));
  }

  @Override
  public ResponseTranslator translator(ParsedRequest clientRequest, BackendTarget backend) {
    if (clientRequest.endpoint() != Endpoint.CHAT_COMPLETIONS) {
      return null;
    }
    return new AnthropicToOpenAi(clientRequest.model());
  }
}
