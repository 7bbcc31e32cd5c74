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
  public final AtomicLong upstreamRequests = new AtomicLong();
  public final AtomicLong retries = new AtomicLong();
}
