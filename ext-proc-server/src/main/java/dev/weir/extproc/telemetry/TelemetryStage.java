package dev.weir.extproc.telemetry;

import com.fasterxml.jackson.databind.JsonNode;
import dev.weir.extproc.pipeline.Decision;
import dev.weir.extproc.pipeline.ExchangeState;
import dev.weir.extproc.pipeline.Mutation;
import dev.weir.extproc.pipeline.ResponseChunk;
import dev.weir.extproc.pipeline.Stage;

/**
 * Records the finished exchange once: metrics, the audit line and the usage event (recent events,
 * chargeback totals, sinks). On the way it notes the model the backend says it served.
 */
public final class TelemetryStage implements Stage {
  /** The buffered answer as the client got it (for content logging); null for streams. */
  private String bufferedAnswer;

  @Override
  public String name() {
    return "audit";
  }

  @Override
  public Decision onResponseChunk(ExchangeState exchange, ResponseChunk chunk, Mutation mutation) {
    if (!chunk.streamed()) {
      bufferedAnswer = chunk.data();
    }
    if (exchange.record().modelServed().isEmpty() && exchange.served()) {
      JsonNode json = chunk.json();
      if (json != null) {
        // OpenAI answers and chunks carry "model"; Anthropic's message_start and the Responses
        // API's response.* events carry it one level down.
        String model = text(json.path("model"));
        if (model == null) {
          model = text(json.path("message").path("model"));
        }
        if (model == null) {
          model = text(json.path("response").path("model"));
        }
        if (model != null) {
          exchange.record().modelServed(model);
        }
      }
    }
    return Decision.proceed();
  }

  private static String text(JsonNode node) {
    return node.isTextual() && !node.asText().isEmpty() ? node.asText() : null;
  }

  @Override
  public void onExchangeEnd(ExchangeState exchange, boolean aborted) {
    ContentLog.capture(exchange, bufferedAnswer);
    ExchangeRecord record = exchange.record().finish(aborted);
    exchange.gateway().metrics().record(record);
    Telemetry telemetry = exchange.gateway().telemetry();
    var event = UsageEvents.of(exchange, telemetry.replica());
    telemetry.publish(event);
    exchange.span().end(event);
  }
}
