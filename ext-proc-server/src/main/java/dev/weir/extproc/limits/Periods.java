package dev.weir.extproc.limits;

import dev.weir.config.v1.Period;
import java.time.DayOfWeek;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.time.temporal.ChronoUnit;
import java.time.temporal.IsoFields;
import java.time.temporal.TemporalAdjusters;

/** Calendar periods for quotas and budgets: which period an instant is in, and when it ends. */
final class Periods {
  private Periods() {}

  /** The period's id (part of the counter key) and the seconds until the counter may expire. */
  record Current(String id, long ttlSeconds) {}

  static Current of(Period period, String zone, long nowMillis) {
    ZonedDateTime now = Instant.ofEpochMilli(nowMillis).atZone(zone.isEmpty() ? ZoneId.of("UTC") : ZoneId.of(zone));
    ZonedDateTime start;
    ZonedDateTime end;
    String id;
    switch (period) {
      case HOUR -> {
        start = now.truncatedTo(ChronoUnit.HOURS);
        end = start.plusHours(1);
        id = start.toLocalDateTime().toString();
      }
      case DAY -> {
        start = now.truncatedTo(ChronoUnit.DAYS);
        end = start.plusDays(1);
        id = start.toLocalDate().toString();
      }
      case WEEK -> {
        start = now.truncatedTo(ChronoUnit.DAYS).with(TemporalAdjusters.previousOrSame(DayOfWeek.MONDAY));
        end = start.plusWeeks(1);
        id = start.get(IsoFields.WEEK_BASED_YEAR) + "-W" + start.get(IsoFields.WEEK_OF_WEEK_BASED_YEAR);
      }
      case MONTH -> {
        start = now.truncatedTo(ChronoUnit.DAYS).withDayOfMonth(1);
        end = start.plusMonths(1);
        id = start.getYear() + "-" + start.getMonthValue();
      }
      case YEAR -> {
        start = now.truncatedTo(ChronoUnit.DAYS).withDayOfYear(1);
        end = start.plusYears(1);
        id = Integer.toString(start.getYear());
      }
      default -> throw new IllegalArgumentException("no period");
    }
    // Keep the counter a day past the period's end so late reconciliations still find it.
    long ttl = Math.max(1, (end.toInstant().toEpochMilli() - nowMillis) / 1000) + 86_400;
    return new Current(id, ttl);
  }
}
