package dev.weir.testkit;

import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import java.math.BigInteger;
import java.util.List;

/**
 * Envoy's Maglev table over one priority level's hosts, from
 * source/extensions/load_balancing_policies/maglev/maglev_lb.cc (MaglevTable): each host's
 * permutation starts at XXH64(key) % M and steps by XXH64(key, seed 1) % (M - 1) + 1; hosts take
 * turns filling free slots, a host of normalized weight w taking a turn in iteration i only while
 * i × w is not below its running target (which grows by the largest weight per turn), until all M
 * slots (table_size, default 65537, must be prime) are owned. The key is the one ring hash uses
 * ({@link HashRing#hashKey}). A request hash picks slot hash % M; host-selection attempt n > 0
 * first flips the hash with {@code hash ^= ~0 - n + 1} (MaglevTable::chooseHost).
 */
final class MaglevTable {
  static final long DEFAULT_TABLE_SIZE = 65537;
  private final UpstreamHost[] table;

  private MaglevTable(UpstreamHost[] table) {
    this.table = table;
  }

  static MaglevTable of(List<UpstreamHost> hosts, Cluster cluster) {
    long size = cluster.getMaglevLbConfig().hasTableSize() ? cluster.getMaglevLbConfig().getTableSize().getValue()
        : DEFAULT_TABLE_SIZE;
    if (!BigInteger.valueOf(size).isProbablePrime(50)) {
      throw new IllegalArgumentException("The table size of maglev must be prime number");
    }
    return of(hosts, (int) size, cluster.getCommonLbConfig().getConsistentHashingLbConfig().getUseHostnameForHashing());
  }

  static MaglevTable of(List<UpstreamHost> hosts, int size, boolean useHostname) {
    if (hosts.isEmpty()) {
      return new MaglevTable(new UpstreamHost[0]);
    }
    long sum = hosts.stream().mapToLong(UpstreamHost::weight).sum();
    int n = hosts.size();
    long[] offset = new long[n];
    long[] skip = new long[n];
    long[] next = new long[n];
    double[] weight = new double[n];
    double[] target = new double[n];
    double maxWeight = 0;
    for (int i = 0; i < n; i++) {
      String key = HashRing.hashKey(hosts.get(i), useHostname);
      offset[i] = Long.remainderUnsigned(XxHash64.hash(key), size);
      skip[i] = Long.remainderUnsigned(XxHash64.hash(key, 1), size - 1) + 1;
      weight[i] = (double) hosts.get(i).weight() / sum;
      maxWeight = Math.max(maxWeight, weight[i]);
    }
    UpstreamHost[] table = new UpstreamHost[size];
    long filled = 0;
    for (long iteration = 1; filled < size; iteration++) {
      for (int i = 0; i < n && filled < size; i++) {
        if (iteration * weight[i] < target[i]) {
          continue;
        }
        target[i] += maxWeight;
        int c = (int) ((offset[i] + skip[i] * next[i]) % size);
        while (table[c] != null) {
          next[i]++;
          c = (int) ((offset[i] + skip[i] * next[i]) % size);
        }
        table[c] = hosts.get(i);
        next[i]++;
        filled++;
      }
    }
    return new MaglevTable(table);
  }

  UpstreamHost choose(long hash, int attempt) {
    if (table.length == 0) {
      return null;
    }
    long h = attempt > 0 ? hash ^ (-1L - attempt + 1) : hash;
    return table[(int) Long.remainderUnsigned(h, table.length)];
  }
}
