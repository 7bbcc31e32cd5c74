package dev.weir.extproc.console;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** What the console's overview reads from the registry: outcome groups, totals and interval percentiles. */
class ConsoleSamplerTest {
  @Test
  void outcomesFallIntoTheGroupsTheConsoleCounts() {
    assertEquals("served", Outcomes.group("served"));
    assertEquals("served", Outcomes.group("answered"));
    assertEquals("cached", Outcomes.group("cached"));
    assertEquals("blocked", Outcomes.group("rejected_content_filter"));
    assertEquals("limited", Outcomes.group("rejected_tokens_per_minute_exceeded"));
    assertEquals("limited", Outcomes.group("rejected_budget_exceeded"));
    assertEquals("errors", Outcomes.group("backend_error"));
    assertEquals("errors", Outcomes.group("stream_interrupted"));
    assertEquals("errors", Outcomes.group("rejected_limit_store_unavailable"));
    assertEquals("rejected", Outcomes.group("rejected_model_not_found"));
    assertEquals("client_closed", Outcomes.group("client_closed"));
  }

  static void exchange(SimpleMeterRegistry registry, String outcome, String backend, long millis) {
    Counter.builder("weir.exchanges").tag("outcome", outcome).tag("backend", backend).register(registry).increment();
    Timer.builder("gen_ai.server.request.duration").tag("weir.outcome", outcome)
        .serviceLevelObjectives(Duration.ofMillis(10), Duration.ofMillis(100), Duration.ofMillis(1000))
        .register(registry).record(Duration.ofMillis(millis));
  }

  @Test
  void totalsAndPercentilesBetweenTwoSamplesComeFromTheRegistry() {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    ConsoleSampler sampler = new ConsoleSampler(registry, false);
    ConsoleSampler.Totals empty = sampler.read();
    assertNull(ConsoleSampler.quantileMillis(empty, empty, 0.5), "no requests, no percentile");
    for (int i = 0; i < 90; i++) {
      exchange(registry, "served", "a", 50); // (10, 100]
    }
    for (int i = 0; i < 10; i++) {
      exchange(registry, "backend_error", "b", 500); // (100, 1000]
    }
    Counter.builder("weir.tokens").tag("type", "input").register(registry).increment(1200);
    ConsoleSampler.Totals now = sampler.read();
    assertEquals(100, now.requests());
    assertEquals(10, now.group("errors"));
    assertEquals(1200, now.promptTokens());
    assertEquals(Long.valueOf(10), now.byBackend().get("b").get("errors"));
    // p50: the 50th of 90 in (10, 100] is 10 + 90 × 50/90 = 60 ms; p99: 9 of 10 into (100, 1000].
    assertEquals(60.0, ConsoleSampler.quantileMillis(empty, now, 0.5), 1e-9);
    assertEquals(910.0, ConsoleSampler.quantileMillis(empty, now, 0.99), 1e-9);
    sampler.sample();
    exchange(registry, "served", "a", 5);
    assertEquals(5.0, ConsoleSampler.quantileMillis(sampler.samples().get(1), sampler.read(), 0.5), 1e-9,
        "only what happened after the sample counts");
  }
}
