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
 */
public final class Limiter {
  private static final Logger log = LoggerFactory.getLogger(Limiter.class);

  /** What a request brings to the decision. */
  public record Facts(String consumer, String clientIp, Map<String, String> headers,
      Map<String, String> jwtClaims, String model, long promptTokens, long completionReservation) {}

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

  enum Kind { TPM, RPM, QUOTA, BUDGET }

  /** One counter taken for a request, to be corrected later. */
  record Charge(Limit limit, Kind kind, LimitStore store, String key, long amount, long second, long ttl) {}

  private final Map<String, Limit> limits = new HashMap<>();
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
    config.getLimitsList().forEach(l -> limits.put(l.getName(), l));
    this.policies = new dev.weir.extproc.policy.PolicySets(config);
    for (Model m : config.getModelsList()) {
      if (m.hasPrice()) {
        prices.put(m.getName(), m.getPrice());
      }
    }
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
    long tokens = f.promptTokens() + f.completionReservation();
    long cost = costMicros(f.model(), f.promptTokens(), 0, f.completionReservation());
    List<Charge> taken = new ArrayList<>();
    Map<String, String> headers = new LinkedHashMap<>();
    for (String name : policies.resolve(f.consumer(), f.model()).limitNames()) {
      Limit limit = limits.get(name);
      String keyValue = keyValue(limit, f);
      String base = limit.getName() + "|" + keyValue;
      List<Step> steps = new ArrayList<>();
      if (limit.getTokensPerMinute() > 0) steps.add(new Step(Kind.TPM, limit.getTokensPerMinute(), tokens));
      if (limit.getRequestsPerMinute() > 0) steps.add(new Step(Kind.RPM, limit.getRequestsPerMinute(), 1));
      if (limit.hasQuota()) steps.add(new Step(Kind.QUOTA, limit.getQuota().getTokens(), tokens));
      if (limit.hasBudget()) steps.add(new Step(Kind.BUDGET, (long) Math.floor(limit.getBudget().getUsd() * 1e6), cost));
      for (Step step : steps) {
        Result r;
        try {
          r = take(shared, limit, step, base);
        } catch (LimitStore.UnavailableException e) {
          boolean open = limit.getOnStoreFailure() == FailureMode.OPEN;
          observer.storeError(limit.getName(), open);
          log.warn("limit store unavailable for {} ({}): failing {}", limit.getName(), e.getMessage(),
              open ? "open to local counters" : "closed");
          if (!open) {
            release(taken);
            observer.decision(limit.getName(), kindName(step.kind), "store_unavailable");
            return new Refused(new ApiError(503, "server_error", "limit_store_unavailable",
                "The gateway cannot check limit \"" + limit.getName() + "\" right now; try again shortly."), 1,
                limit.getName());
          }
          r = take(fallback, limit, step, base);
        }
        if (!r.admitted) {
          release(taken);
          observer.decision(limit.getName(), kindName(step.kind), "refused");
          return refusal(limit, step, r, f, tokens);
        }
        observer.decision(limit.getName(), kindName(step.kind), "admitted");
        taken.add(r.charge);
        describe(headers, step.kind, step.limit, r.remaining);
      }
    }
    return new Admitted(new Reservation(this, f.model(), f.promptTokens(), f.completionReservation(), cost, taken),
        headers);
  }

  private record Step(Kind kind, long limit, long cost) {}

  private record Result(boolean admitted, long remaining, long retryAfter, Charge charge) {}

  private Result take(LimitStore store, Limit limit, Step step, String base) {
    switch (step.kind) {
      case TPM, RPM -> {
        String key = base + "|" + step.kind.name().toLowerCase(Locale.ROOT);
        LimitStore.Window w = store.reserveWindow(key, step.limit, step.cost);
        return new Result(w.admitted(), w.remaining(), w.retryAfterSeconds(),
            new Charge(limit, step.kind, store, key, step.cost, w.second(), 0));
      }
      default -> {
        var period = step.kind == Kind.QUOTA
            ? Periods.of(limit.getQuota().getPeriod(), limit.getQuota().getTimeZone(), store.nowMillis())
            : Periods.of(limit.getBudget().getPeriod(), limit.getBudget().getTimeZone(), store.nowMillis());
        String key = base + "|" + step.kind.name().toLowerCase(Locale.ROOT) + "|" + period.id();
        LimitStore.Counter c = store.reserveCounter(key, step.limit, step.cost, period.ttlSeconds());
        return new Result(c.admitted(), c.remaining(), 0,
            new Charge(limit, step.kind, store, key, step.cost, 0, period.ttlSeconds()));
      }
    }
  }

  private Refused refusal(Limit limit, Step step, Result r, Facts f, long tokens) {
    String name = limit.getName();
    return switch (step.kind) {
      case TPM -> new Refused(new ApiError(429, "rate_limit_exceeded", "tokens_per_minute_exceeded",
          step.cost > step.limit
              ? "This request needs about " + step.cost + " tokens (" + f.promptTokens() + " prompt + "
                  + f.completionReservation() + " reserved for the answer), more than limit \"" + name
                  + "\" allows in a minute (" + step.limit + "). Lower max_tokens or shorten the prompt."
              : "Limit \"" + name + "\" of " + step.limit + " tokens per minute is reached; this request needs about "
                  + step.cost + ". Retry after " + r.retryAfter + " s."), r.retryAfter, name);
      case RPM -> new Refused(new ApiError(429, "rate_limit_exceeded", "requests_per_minute_exceeded",
          "Limit \"" + name + "\" of " + step.limit + " requests per minute is reached. Retry after "
              + r.retryAfter + " s."), r.retryAfter, name);
      case QUOTA -> new Refused(new ApiError(403, "insufficient_quota", "token_quota_exceeded",
          "Token quota \"" + name + "\" for this " + limit.getQuota().getPeriod().name().toLowerCase(Locale.ROOT)
              + " is used up (" + r.remaining + " of " + step.limit + " left; this request needs about "
              + tokens + ")."), 0, name);
      case BUDGET -> new Refused(new ApiError(403, "insufficient_quota", "budget_exceeded",
          String.format(Locale.ROOT, "Budget \"%s\" of $%.2f for this %s is used up ($%.4f left; this request may"
              + " cost $%.4f).", name, limit.getBudget().getUsd(),
              limit.getBudget().getPeriod().name().toLowerCase(Locale.ROOT), r.remaining / 1e6, step.cost / 1e6)),
          0, name);
    };
  }

  private static void describe(Map<String, String> headers, Kind kind, long limit, long remaining) {
    // With several limits of a kind, report the one with the least room.
    String[] names = switch (kind) {
      case TPM -> new String[] {"x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens"};
      case RPM -> new String[] {"x-ratelimit-limit-requests", "x-ratelimit-remaining-requests"};
      case QUOTA -> new String[] {"x-weir-quota-limit-tokens", "x-weir-quota-remaining-tokens"};
      case BUDGET -> new String[] {"x-weir-budget-limit-usd", "x-weir-budget-remaining-usd"};
    };
    String shown = headers.get(names[1]);
    boolean money = kind == Kind.BUDGET;
    double current = shown == null ? Double.MAX_VALUE : Double.parseDouble(shown) * (money ? 1e6 : 1);
    if (remaining < current) {
      headers.put(names[0], money ? String.format(Locale.ROOT, "%.2f", limit / 1e6) : Long.toString(limit));
      headers.put(names[1], money ? String.format(Locale.ROOT, "%.6f", remaining / 1e6) : Long.toString(remaining));
    }
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
      switch (c.kind()) {
        case TPM, RPM -> c.store().adjustWindow(c.key(), c.second(), delta);
        default -> c.store().adjustCounter(c.key(), delta, c.ttl());
      }
    } catch (LimitStore.UnavailableException e) {
      observer.storeError(c.limit().getName(), false);
      log.warn("could not correct {} by {} ({}); the reservation stands", c.key(), delta, e.getMessage());
    }
  }

  private static String kindName(Kind k) {
    return switch (k) {
      case TPM -> "tokens_per_minute";
      case RPM -> "requests_per_minute";
      case QUOTA -> "token_quota";
      case BUDGET -> "budget";
    };
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
      long tokens = inputTokens + outputTokens;
      for (Charge c : charges) {
        long actual = switch (c.kind()) {
          case TPM, QUOTA -> tokens;
          case RPM -> c.amount(); // the request happened either way
          case BUDGET -> cost;
        };
        limiter.adjust(c, actual - c.amount());
      }
      return cost;
    }

    public long reservedCostMicros() {
      return costMicros;
    }
  }
}
