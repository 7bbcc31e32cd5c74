package dev.weir.extproc.tokens;

import com.fasterxml.jackson.databind.JsonNode;
import dev.weir.extproc.dialects.Dialect;
import dev.weir.extproc.openai.ParsedRequest;
import dev.weir.extproc.openai.Usage;
import dev.weir.extproc.pipeline.Decision;
import dev.weir.extproc.pipeline.ExchangeState;
import dev.weir.extproc.pipeline.Mutation;
import dev.weir.extproc.pipeline.ResponseChunk;
import dev.weir.extproc.pipeline.Stage;

/**
 * Finds out what the exchange used: the usage the backend reported, read by the client's dialect (a
 * JSON body's {@code usage}, or a stream's usage events; a usage chunk the gateway asked for is
 * hidden from clients that did not), else the gateway's own count of the prompt and of the answer
 * as it streamed.
 */
public final class UsageStage implements Stage {
  /** Reads this exchange's stream in the client's dialect (made on the first event). */
  private Dialect.StreamReader reader;

  @Override
  public String name() {
    return "usage";
  }

  @Override
  public Decision onResponseChunk(ExchangeState exchange, ResponseChunk chunk, Mutation mutation) {
    if (!chunk.streamed()) {
      if (exchange.served() && chunk.json() != null) {
        Usage usage = exchange.dialect().usage(chunk.json());
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
    if (reader == null) {
      reader = exchange.dialect().streamReader(exchange.request());
    }
    Dialect.Read read = reader.read(event, exchange.answerText());
    if (read.usage() != null) {
      exchange.record().usage(read.usage());
      if (read.gatewayOnly()) {
        chunk.drop();
      }
    }
    return Decision.proceed();
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

  /**
   * No usage from the backend: the prompt tokens the stream reported, else our estimate; our count
   * of the answer.
   */
  private void countIfUnreported(ExchangeState exchange) {
    ParsedRequest request = exchange.request();
    if (exchange.record().usage() != null || !exchange.served() || request == null) {
      return;
    }
    TokenCounter tokens = exchange.gateway().tokens();
    long reported = reader == null ? -1 : reader.reportedInputTokens();
    long estimated = exchange.record().estimatedPromptTokens();
    long input = reported >= 0 ? reported
        : estimated >= 0 ? estimated : exchange.dialect().promptTokens(tokens, request);
    long output = tokens.count(request.model(), exchange.answerText().toString());
    exchange.record().usage(new Usage(input, output, input + output, -1, -1));
    exchange.record().usageCounted();
  }
}
