package dev.weir.extproc.limits;

import dev.weir.config.v1.FailureMode;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.config.v1.Limit;
import dev.weir.config.v1.Model;
import dev.weir.config.v1.Price;
import dev.weir.extproc.openai.ApiError;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Decides before the backend whether a request fits every limit that applies to it, and reserves
 * what it may use: the estimated prompt plus a completion reservation, and their price for money
 * budgets. After the backend, {@link Reservation#reconcile} refunds or charges the difference.
 *
 * <p>Each limit's counters are reserved one after another, each atomically in its store; if one
 * refuses, the ones already taken are given back. Between those two moments other requests see
 * a little less room than there is, never more, so the limits are never over-admitted.
 *
 * <p>Each kind of limit (tokens or requests per minute, quota, budget) is one {@link LimitKind}
 * class; this class composes them: key selection, store failure handling, refunds, settlement.
 */
public final class Limiter {
  private static final Logger log = LoggerFactory.getLogger(Limiter.class);

  /** What a request brings to the decision. */
  public record Facts(String consumer, String clientIp, Map<String, String> headers,
      Map<String, String> jwtClaims, String model, long promptTokens, long completionReservation) {}

  /** The decision: admitted with a reservation, or refused with the error to answer. */
  public sealed interface Admission permits Admitted, Refused {}

  /** Admitted; {@code headers} tell the client what room is left. */
  public record Admitted(Reservation reservation, Map<String, String> headers) implements Admission {}

  /** Refused before the backend; {@code retryAfterSeconds} is set for rate (per-minute) limits. */
  public record Refused(ApiError error, long retryAfterSeconds, String limit) implements Admission {}

  /** Counts decisions and store trouble (implemented by the metrics). */
  public interface Observer {
    void decision(String limit, String kind, String outcome);

    void storeError(String limit, boolean failedOpen);

    Observer NONE = new Observer() {
      public void decision(String limit, String kind, String outcome) {}

      public void storeError(String limit, boolean failedOpen) {}
    };
  }

  /**
   * Where one limit kind stands for one consumer now: {@code used} of {@code ceiling} in the
   * kind's unit (tokens, requests or micro-dollars) over {@code span}. For a limit keyed by
   * something other than the consumer (client-ip, a header, a claim) there is no single counter
   * to show: {@code used} is -1 and {@code key} says what it is counted by. {@code error} is set
   * (and {@code used} -1) when the store could not be read.
   */
  public record Standing(String limit, String level, String kind, String key, String span, String unit,
      long used, long ceiling, String error) {}

  /** One counter taken for a request, to be corrected later. */
  record Charge(Limit limit, LimitKind kind, LimitStore store, LimitKind.Taken taken, long amount) {}

  /** A configured limit with the kinds it sets, in the order they are checked. */
  private record Bound(Limit limit, List<LimitKind> kinds) {}

  private final Map<String, Bound> limits = new HashMap<>();
  private final dev.weir.extproc.policy.PolicySets policies;
  private final Map<String, Price> prices = new HashMap<>();
  private final LimitStore shared;
  private final LocalLimitStore fallback;
  private final Observer observer;

  /**
   * @param shared the store for every limit (Redis when configured, else a local one)
   * @param fallback where fail-open limits count while {@code shared} is unreachable
   */
  public Limiter(GatewayConfig config, LimitStore shared, LocalLimitStore fallback, Observer observer) {
    this.shared = shared;
    this.fallback = fallback;
    this.observer = observer;
    config.getLimitsList().forEach(l -> limits.put(l.getName(), new Bound(l, kindsOf(l))));
    this.policies = new dev.weir.extproc.policy.PolicySets(config);
    for (Model m : config.getModelsList()) {
      if (m.hasPrice()) {
        prices.put(m.getName(), m.getPrice());
      }
    }
  }

  /** The kinds a limit sets; one limit may set several, each counted on its own. */
  static List<LimitKind> kindsOf(Limit limit) {
    List<LimitKind> kinds = new ArrayList<>();
    if (limit.getTokensPerMinute() > 0) kinds.add(new TokensPerMinute(limit.getTokensPerMinute()));
    if (limit.getRequestsPerMinute() > 0) kinds.add(new RequestsPerMinute(limit.getRequestsPerMinute()));
    if (limit.hasQuota()) kinds.add(new TokenQuota(limit.getQuota()));
    if (limit.hasBudget()) kinds.add(new MoneyBudget(limit.getBudget()));
    return List.copyOf(kinds);
  }

  /**
   * Whether any limit applies to this consumer calling this model, at any level (else no counting
   * is needed at all).
   */
  public boolean limits(String consumer, String model) {
    return !policies.resolve(consumer, model).limits().isEmpty();
  }

  /** The global, model and consumer policies that apply to this consumer calling this model. */
  public dev.weir.extproc.policy.PolicySets policies() {
    return policies;
  }

  /** What a request cost, in micro-dollars, by the model's price (0 without one). */
  public long price(String model, long inputTokens, long cachedInputTokens, long outputTokens) {
    return costMicros(model, inputTokens, cachedInputTokens, outputTokens);
  }

  /**
   * Every limit kind that applies to {@code consumer} calling any model it may call, at any level,
   * and how much of each is used now. Reads the counters without changing them.
   */
  public List<Standing> standing(dev.weir.config.v1.Consumer consumer, List<String> models) {
    Map<String, String> attached = new LinkedHashMap<>();
    for (String model : models) {
      for (var a : policies.resolve(consumer.getName(), model).limits()) {
        attached.putIfAbsent(a.name(), a.level().name().toLowerCase(Locale.ROOT));
      }
    }
    List<Standing> out = new ArrayList<>();
    attached.forEach((name, level) -> {
      Bound bound = limits.get(name);
      Limit limit = bound.limit();
      boolean byConsumer = limit.getKey().equals("consumer");
      String counter = limit.getName() + "|" + consumer.getName();
      for (LimitKind kind : bound.kinds()) {
        long used = -1;
        String error = null;
        if (byConsumer) {
          try {
            used = kind.standing(shared, counter);
          } catch (LimitStore.UnavailableException e) {
            error = "limit store unavailable: " + e.getMessage();
          }
        }
        out.add(new Standing(name, level, kind.label(), limit.getKey(), kind.span(), unit(kind), used,
            kind.ceiling(), error));
      }
    });
    return out;
  }

  private static String unit(LimitKind kind) {
    return kind instanceof MoneyBudget ? "usd_micros" : kind instanceof RequestsPerMinute ? "requests" : "tokens";
  }

  /** Price in micro-dollars (dollars per million tokens × tokens = micro-dollars). */
  long costMicros(String model, long inputTokens, long cachedInputTokens, long outputTokens) {
    Price p = prices.get(model);
    if (p == null) {
      return 0;
    }
    double cachedPrice = p.getCachedInputPerMillion() > 0 ? p.getCachedInputPerMillion() : p.getInputPerMillion();
    double micros = (inputTokens - cachedInputTokens) * p.getInputPerMillion() + cachedInputTokens * cachedPrice
        + outputTokens * p.getOutputPerMillion();
    return (long) Math.ceil(micros);
  }

  public Admission admit(Facts f) {
    LimitKind.Demand demand = new LimitKind.Demand(f.promptTokens(), f.completionReservation(),
        costMicros(f.model(), f.promptTokens(), 0, f.completionReservation()));
    List<Charge> taken = new ArrayList<>();
    Map<String, String> headers = new LinkedHashMap<>();
    for (String name : policies.resolve(f.consumer(), f.model()).limitNames()) {
      Bound bound = limits.get(name);
      Limit limit = bound.limit();
      String counter = limit.getName() + "|" + keyValue(limit, f);
      for (LimitKind kind : bound.kinds()) {
        long amount = kind.reserve(demand);
        LimitStore store = shared;
        LimitKind.Taken t;
        try {
          t = kind.take(store, counter, amount);
        } catch (LimitStore.UnavailableException e) {
          boolean open = limit.getOnStoreFailure() == FailureMode.OPEN;
          observer.storeError(limit.getName(), open);
          log.warn("limit store unavailable for {} ({}): failing {}", limit.getName(), e.getMessage(),
              open ? "open to local counters" : "closed");
          if (!open) {
            release(taken);
            observer.decision(limit.getName(), kind.label(), "store_unavailable");
            return new Refused(new ApiError(503, "server_error", "limit_store_unavailable",
                "The gateway cannot check limit \"" + limit.getName() + "\" right now; try again shortly."), 1,
                limit.getName());
          }
          store = fallback;
          t = kind.take(store, counter, amount);
        }
        if (!t.admitted()) {
          release(taken);
          observer.decision(limit.getName(), kind.label(), "refused");
          return kind.refusal(limit.getName(), amount, t, demand);
        }
        observer.decision(limit.getName(), kind.label(), "admitted");
        taken.add(new Charge(limit, kind, store, t, amount));
        kind.report(headers, t.remaining());
      }
    }
    return new Admitted(new Reservation(this, f.model(), f.promptTokens(), f.completionReservation(),
        demand.costMicros(), taken), headers);
  }

  private static String keyValue(Limit limit, Facts f) {
    String key = limit.getKey();
    String v;
    if (key.equals("consumer")) {
      v = f.consumer();
    } else if (key.equals("client-ip")) {
      v = f.clientIp();
    } else if (key.startsWith("header:")) {
      v = f.headers().get(key.substring(7).toLowerCase(Locale.ROOT));
    } else {
      v = f.jwtClaims().get(key.substring(4));
    }
    // Requests without the key's value share one counter rather than escaping the limit.
    return v == null || v.isEmpty() ? "(none)" : v;
  }

  /** Gives back charges already taken (best effort: a store error leaves the reservation). */
  void release(List<Charge> charges) {
    for (Charge c : charges) {
      adjust(c, -c.amount());
    }
  }

  void adjust(Charge c, long delta) {
    if (delta == 0) {
      return;
    }
    try {
      c.kind().adjust(c.store(), c.taken(), delta);
    } catch (LimitStore.UnavailableException e) {
      observer.storeError(c.limit().getName(), false);
      log.warn("could not correct {} by {} ({}); the reservation stands", c.taken().key(), delta, e.getMessage());
    }
  }

  /** What one admitted request holds; reconcile it once, when its usage is known. */
  public static final class Reservation {
    private final Limiter limiter;
    private final String model;
    private final long promptTokens;
    private final long completionReservation;
    private final long costMicros;
    private final List<Charge> charges;
    private final AtomicBoolean settled = new AtomicBoolean();

    Reservation(Limiter limiter, String model, long promptTokens, long completionReservation, long costMicros,
        List<Charge> charges) {
      this.limiter = limiter;
      this.model = model;
      this.promptTokens = promptTokens;
      this.completionReservation = completionReservation;
      this.costMicros = costMicros;
      this.charges = charges;
    }

    public long reservedTokens() {
      return promptTokens + completionReservation;
    }

    public long estimatedPromptTokens() {
      return promptTokens;
    }

    /**
     * Settles the reservation with what the request really used: refunds or charges the
     * difference on every counter. 0 tokens refunds everything (a failed upstream call).
     *
     * @return the actual cost in micro-dollars
     */
    public long reconcile(long inputTokens, long cachedInputTokens, long outputTokens) {
      long cost = limiter.costMicros(model, inputTokens, cachedInputTokens, outputTokens);
      if (!settled.compareAndSet(false, true)) {
        return cost;
      }
      LimitKind.Usage usage = new LimitKind.Usage(inputTokens + outputTokens, cost);
      for (Charge c : charges) {
        limiter.adjust(c, c.kind().used(usage, c.amount()) - c.amount());
      }
      return cost;
    }

    public long reservedCostMicros() {
      return costMicros;
    }
  }
}
