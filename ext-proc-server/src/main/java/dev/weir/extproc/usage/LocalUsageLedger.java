package dev.weir.extproc.usage;

import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Usage totals in this process, when no Redis is configured: each replica has its own. Days older
 * than the retention are dropped as new days arrive. Keys are configured consumers and models
 * (see {@link UsageRecorder}), so the map is bounded by the config times the retention.
 */
public final class LocalUsageLedger implements UsageLedger {
  private final Map<Key, UsageAmounts> totals = new ConcurrentHashMap<>();
  private final int retentionDays;
  private volatile LocalDate lastPruned = LocalDate.MIN;

  public LocalUsageLedger(int retentionDays) {
    this.retentionDays = retentionDays;
  }

  @Override
  public void add(Key key, UsageAmounts amounts) {
    totals.merge(key, amounts, UsageAmounts::plus);
    LocalDate today = LocalDate.now(ZoneOffset.UTC);
    if (!today.equals(lastPruned)) {
      lastPruned = today;
      LocalDate oldest = today.minusDays(retentionDays);
      totals.keySet().removeIf(k -> k.day().isBefore(oldest));
    }
  }

  @Override
  public Map<Key, UsageAmounts> read(LocalDate from, LocalDate to) {
    Map<Key, UsageAmounts> out = new HashMap<>();
    totals.forEach((k, v) -> {
      if (!k.day().isBefore(from) && !k.day().isAfter(to)) {
        out.put(k, v);
      }
    });
    return out;
  }

  @Override
  public boolean shared() {
    return false;
  }
}
