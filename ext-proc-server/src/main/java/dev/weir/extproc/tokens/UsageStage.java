package dev.weir.extproc.tokens;

import com.fasterxml.jackson.databind.JsonNode;
import dev.weir.extproc.openai.ParsedRequest;
import dev.weir.extproc.openai.Usage;
import dev.weir.extproc.pipeline.Decision;
import dev.weir.extproc.pipeline.ExchangeState;
import dev.weir.extproc.pipeline.Mutation;
import dev.weir.extproc.pipeline.ResponseChunk;
import dev.weir.extproc.pipeline.Stage;

/**
 * Finds out what the exchange used: the usage the backend reported (a JSON body's {@code usage},
 * or a stream's usage chunk, hidden from clients that did not ask for it), else the gateway's own
 * count of the prompt and of the answer as it streamed.
 */
public final class UsageStage implements Stage {
  @Override
  public String name() {
    return "usage";
  }

  @Override
  public Decision onResponseChunk(ExchangeState exchange, ResponseChunk chunk, Mutation mutation) {
    if (!chunk.streamed()) {
      if (exchange.served() && chunk.json() != null) {
        Usage usage = Usage.from(chunk.json().get("usage"));
        if (usage != null) {
          exchange.record().usage(usage);
        }
      }
      return Decision.proceed();
    }
    if (chunk.data() == null) {
      return Decision.proceed();
    }
    exchange.record().streamEvent();
    JsonNode event = chunk.json();
    if (event == null) {
      return Decision.proceed();
    }
    StringBuilder text = exchange.answerText();
    for (JsonNode choice : event.path("choices")) {
      text.append(choice.path("delta").path("content").asText(""));
      text.append(choice.path("text").asText(""));
      for (JsonNode call : choice.path("delta").path("tool_calls")) {
        text.append(call.path("function").path("arguments").asText(""));
      }
    }
    Usage usage = Usage.from(event.get("usage"));
    if (usage != null) {
      exchange.record().usage(usage);
      // The gateway asked for (or the backend's adapter made) a usage chunk the client did not want.
      if (event.path("choices").isEmpty() && !clientAskedForUsage(exchange)) {
        chunk.drop();
      }
    }
    return Decision.proceed();
  }

  private static boolean clientAskedForUsage(ExchangeState exchange) {
    ParsedRequest request = exchange.request();
    return request != null && request.body().path("stream_options").path("include_usage").asBoolean(false);
  }

  @Override
  public Decision onResponseEnd(ExchangeState exchange, Mutation mutation) {
    countIfUnreported(exchange);
    return Decision.proceed();
  }

  @Override
  public void onExchangeEnd(ExchangeState exchange, boolean aborted) {
    if (aborted && exchange.streaming() && !exchange.responseComplete()) {
      countIfUnreported(exchange);
    }
  }

  /** No usage from the backend: our estimate of the prompt, our count of the answer. */
  private static void countIfUnreported(ExchangeState exchange) {
    ParsedRequest request = exchange.request();
    if (exchange.record().usage() != null || !exchange.served() || request == null) {
      return;
    }
    TokenCounter tokens = exchange.gateway().tokens();
    long estimated = exchange.record().estimatedPromptTokens();
    long input = estimated >= 0 ? estimated : tokens.promptTokens(request);
    long output = tokens.count(request.model(), exchange.answerText().toString());
    exchange.record().usage(new Usage(input, output, input + output, -1, -1));
    exchange.record().usageCounted();
  }
}
