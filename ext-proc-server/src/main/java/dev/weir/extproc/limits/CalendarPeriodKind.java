package dev.weir.extproc.limits;

import dev.weir.config.v1.Period;
import java.util.Locale;

/**
 * The counting shared by quotas and budgets: one counter per calendar period, keyed
 * {@code <limit>|<key value>|<suffix>|<period id>}, expiring a day after the period ends.
 */
abstract class CalendarPeriodKind implements LimitKind {
  private final long ceiling;
  private final String suffix;
  private final Period period;
  private final String timeZone;

  CalendarPeriodKind(long ceiling, String suffix, Period period, String timeZone) {
    this.ceiling = ceiling;
    this.suffix = suffix;
    this.period = period;
    this.timeZone = timeZone;
  }

  @Override
  public long ceiling() {
    return ceiling;
  }

  /** The period's name as users write it: hour, day, week, month, year. */
  String periodName() {
    return period.name().toLowerCase(Locale.ROOT);
  }

  @Override
  public Taken take(LimitStore store, String counter, long amount) {
    // The store's clock decides the period, so replicas sharing Redis agree on its boundaries.
    Periods.Current current = Periods.of(period, timeZone, store.nowMillis());
    String key = counter + "|" + suffix + "|" + current.id();
    LimitStore.Counter c = store.reserveCounter(key, ceiling, amount, current.ttlSeconds());
    return new Taken(c.admitted(), c.remaining(), 0, key, 0, current.ttlSeconds());
  }

  @Override
  public long standing(LimitStore store, String counter) {
    Periods.Current current = Periods.of(period, timeZone, store.nowMillis());
    return store.counterUsed(counter + "|" + suffix + "|" + current.id());
  }

  @Override
  public String span() {
    return periodName();
  }

  @Override
  public void adjust(LimitStore store, Taken taken, long delta) {
    store.adjustCounter(taken.key(), delta, taken.ttlSeconds());
  }
}
