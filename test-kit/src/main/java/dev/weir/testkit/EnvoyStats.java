package dev.weir.testkit;

import java.util.concurrent.atomic.AtomicLong;

/** Counters the emulator keeps, named after the Envoy stats they stand for. */
public final class EnvoyStats {
  public final AtomicLong messages = new AtomicLong();
  public final AtomicLong rejectedHeaderMutations = new AtomicLong();
  public final AtomicLong ignoredBodyHeaderMutations = new AtomicLong();
  public final AtomicLong ignoredModeOverrides = new AtomicLong();
  public final AtomicLong messageTimeouts = new AtomicLong();
  public final AtomicLong failureModeAllowed = new AtomicLong();
  /** ext_proc spurious_msgs_received (including ignored immediate responses). */
  public final AtomicLong spuriousMessages = new AtomicLong();
  public final AtomicLong upstreamRequests = new AtomicLong();
  public final AtomicLong retries = new AtomicLong();
  /** cluster upstream_rq_per_try_timeout (per-try and per-try-idle). */
  public final AtomicLong perTryTimeouts = new AtomicLong();
  /** cluster upstream_rq_pending_overflow: requests refused by the circuit breakers. */
  public final AtomicLong upstreamOverflows = new AtomicLong();
  /** cluster upstream_rq_retry_overflow: retries refused by max_retries. */
  public final AtomicLong retryOverflows = new AtomicLong();
  /** outlier_detection.ejections_enforced_total. */
  public final AtomicLong ejections = new AtomicLong();
  /** outlier_detection.ejections_overflow: refused by max_ejection_percent. */
  public final AtomicLong ejectionsOverflow = new AtomicLong();
  /** lb_healthy_panic: host picks made in panic. */
  public final AtomicLong lbPanics = new AtomicLong();
}
