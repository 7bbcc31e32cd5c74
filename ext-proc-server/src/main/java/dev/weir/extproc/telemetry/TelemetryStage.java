package dev.weir.extproc.telemetry;

import dev.weir.extproc.pipeline.ExchangeState;
import dev.weir.extproc.pipeline.Stage;

/** Records the finished exchange once: metrics and the audit line. */
public final class TelemetryStage implements Stage {
  @Override
  public String name() {
    return "audit";
  }

  @Override
  public void onExchangeEnd(ExchangeState exchange, boolean aborted) {
    exchange.gateway().metrics().record(exchange.record().finish(aborted));
  }
}
