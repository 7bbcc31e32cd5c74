package dev.weir.extproc.session;

import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;

/**
 * One HTTP exchange as seen by one ext_proc pass. gRPC delivers a stream's messages one at a time,
 * so implementations keep per-exchange state in plain fields.
 */
public interface Exchange {
  /** Answers one message from Envoy. */
  ProcessingResponse handle(ProcessingRequest request);

  /**
   * The ext_proc stream ended.
   *
   * @param aborted true when Envoy cancelled it (client gone, upstream reset, timeout) rather than
   *     closing it after the last phase
   */
  void end(boolean aborted);
}
