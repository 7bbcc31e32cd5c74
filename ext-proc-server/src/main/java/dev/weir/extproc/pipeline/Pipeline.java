package dev.weir.extproc.pipeline;

import dev.weir.extproc.auth.AuthenticationStage;
import dev.weir.extproc.cache.CacheStage;
import dev.weir.extproc.limits.LimitStage;
import dev.weir.extproc.openai.ValidationStage;
import dev.weir.extproc.routing.ModelAccessStage;
import dev.weir.extproc.routing.RouteStage;
import dev.weir.extproc.safety.SafetyStage;
import dev.weir.extproc.telemetry.TelemetryStage;
import dev.weir.extproc.tokens.UsageStage;
import java.util.Comparator;
import java.util.List;
import java.util.function.Supplier;

/**
 * The router pass's stages and their fixed order. A request runs authenticate → validate → prompt
 * checks → cache lookup → limits → route; its answer runs route (names the backend) → response
 * checks → usage (read it, then settle the reservation) → cache store → audit. A new policy is one {@link Stage} class registered here at
 * its slot; the exchange runner does not change.
 */
public final class Pipeline {
  /** Request-side positions, in the order they run. */
  public enum RequestSlot { AUTHENTICATE, VALIDATE, PROMPT_CHECKS, CACHE_LOOKUP, LIMITS, ROUTE }

  /** Response-side positions, in the order they run. */
  public enum ResponseSlot { ROUTE, RESPONSE_CHECKS, USAGE, SETTLE, CACHE_STORE, AUDIT }

  /**
   * A registered stage: where it runs on each side (null: not on that side) and how to make the
   * per-exchange instance.
   */
  public record Entry(String name, RequestSlot request, ResponseSlot response, Supplier<Stage> factory) {}

  /** One exchange's stage instances, in request order and in response order. */
  public record Stages(List<Stage> request, List<Stage> response, List<Stage> all) {}

  private final List<Entry> entries;

  public Pipeline(List<Entry> entries) {
    this.entries = List.copyOf(entries);
  }

  /** Today's stages. Limits also settle on the response side, right after usage is known. */
  public static Pipeline standard() {
    return new Pipeline(List.of(
        new Entry("authenticate", RequestSlot.AUTHENTICATE, null, AuthenticationStage::new),
        new Entry("validate", RequestSlot.VALIDATE, null, ValidationStage::new),
        new Entry("model-access", RequestSlot.VALIDATE, null, ModelAccessStage::new),
        new Entry("safety", RequestSlot.PROMPT_CHECKS, ResponseSlot.RESPONSE_CHECKS, SafetyStage::new),
        new Entry("cache", RequestSlot.CACHE_LOOKUP, ResponseSlot.CACHE_STORE, CacheStage::new),
        // Before limits: a request no member can take reserves nothing.
        new Entry("breaker", RequestSlot.LIMITS, null, dev.weir.extproc.breaker.BreakerStage::new),
        new Entry("limits", RequestSlot.LIMITS, ResponseSlot.SETTLE, LimitStage::new),
        new Entry("route", RequestSlot.ROUTE, ResponseSlot.ROUTE, RouteStage::new),
        new Entry("usage", null, ResponseSlot.USAGE, UsageStage::new),
        new Entry("audit", null, ResponseSlot.AUDIT, TelemetryStage::new)));
  }

  public List<Entry> entries() {
    return entries;
  }

  /** Entries in the order their request phases run. */
  public List<Entry> requestOrder() {
    return entries.stream().filter(e -> e.request() != null)
        .sorted(Comparator.comparing(Entry::request)).toList();
  }

  /** Entries in the order their response phases run. */
  public List<Entry> responseOrder() {
    return entries.stream().filter(e -> e.response() != null)
        .sorted(Comparator.comparing(Entry::response)).toList();
  }

  /** Fresh stage instances for one exchange. */
  public Stages newExchange() {
    java.util.Map<Entry, Stage> made = new java.util.LinkedHashMap<>();
    for (Entry e : entries) {
      made.put(e, e.factory().get());
    }
    List<Stage> request = requestOrder().stream().map(made::get).toList();
    List<Stage> response = responseOrder().stream().map(made::get).toList();
    return new Stages(request, response, List.copyOf(made.values()));
  }
}
