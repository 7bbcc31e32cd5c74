package dev.weir.extproc.cache;

import dev.weir.config.v1.CachePolicy;
import dev.weir.config.v1.CacheTier;
import dev.weir.config.v1.CacheVerifier;
import java.util.EnumSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The cache policy that applies to one (consumer, model), merged from the global, model and
 * consumer blocks so that a lower level can only tighten: it may switch tiers on only where every
 * level above allows them, and for every other setting the stricter value wins.
 */
public record CacheRules(Set<CacheTier> tiers, long ttlSeconds, double threshold, double agreementThreshold,
    double sureThreshold, boolean verify,
    List<String> varyBy, int maxMessages, boolean ignoreSystemMessages, double maxTemperature,
    boolean allowSeed) {

  /** No caching. */
  public static final CacheRules OFF = new CacheRules(Set.of(), 0, 1, 1, 1, true, List.of("consumer"), 0, false, 0,
      false);

  public boolean enabled() {
    return !tiers.isEmpty();
  }

  public boolean exact() {
    return tiers.contains(CacheTier.EXACT);
  }

  public boolean semantic() {
    return tiers.contains(CacheTier.SEMANTIC);
  }

  /** What a semantic candidate must pass under these rules. */
  public SemanticTier.Checks checks() {
    return new SemanticTier.Checks(threshold, agreementThreshold, sureThreshold, verify);
  }

  /**
   * Merges the blocks of the levels, highest first; a null entry is a level without a block. Each
   * present block carries its defaults already (the loader applied them).
   */
  public static CacheRules resolve(List<CachePolicy> levels) {
    Set<CacheTier> allowed = EnumSet.of(CacheTier.EXACT, CacheTier.SEMANTIC);
    Set<CacheTier> tiers = EnumSet.noneOf(CacheTier.class);
    boolean any = false;
    long ttl = Long.MAX_VALUE;
    double threshold = 0;
    double agreement = 0;
    double sure = 0;
    boolean verify = false;
    Set<String> varyBy = new LinkedHashSet<>();
    int maxMessages = Integer.MAX_VALUE;
    boolean ignoreSystem = true;
    double maxTemperature = Double.MAX_VALUE;
    boolean allowSeed = true;
    for (CachePolicy p : levels) {
      if (p == null) {
        continue;
      }
      any = true;
      if (p.getTiersCount() > 0) {
        // The lowest level that lists tiers decides, within what the levels above allow.
        tiers = EnumSet.noneOf(CacheTier.class);
        for (CacheTier t : p.getTiersList()) {
          if (allowed.contains(t)) {
            tiers.add(t);
          }
        }
      }
      if (p.getAllowTiersCount() > 0) {
        allowed.retainAll(p.getAllowTiersList());
      }
      ttl = Math.min(ttl, p.getTtlSeconds());
      threshold = Math.max(threshold, p.getThreshold());
      agreement = Math.max(agreement, p.getAgreementThreshold());
      sure = Math.max(sure, p.getSureThreshold());
      verify |= p.getVerifier() != CacheVerifier.SKIP;
      varyBy.addAll(p.getVaryByList());
      maxMessages = Math.min(maxMessages, p.getMaxMessages());
      ignoreSystem &= p.getIgnoreSystemMessages();
      maxTemperature = Math.min(maxTemperature, p.getMaxTemperature());
      allowSeed &= p.getAllowSeed();
    }
    if (!any || tiers.isEmpty() || ttl == 0) {
      return OFF;
    }
    if (varyBy.isEmpty()) {
      varyBy.add("consumer");
    }
    return new CacheRules(Set.copyOf(tiers), ttl, threshold, agreement, sure, verify, List.copyOf(varyBy), maxMessages,
        ignoreSystem, maxTemperature, allowSeed);
  }
}
