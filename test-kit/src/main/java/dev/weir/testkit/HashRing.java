package dev.weir.testkit;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A consistent hash ring over a level's hosts, shaped like Envoy's RingHashLoadBalancer
 * (source/extensions/load_balancing_policies/ring_hash/ring_hash_lb.cc): each host owns entries
 * in proportion to its weight (min_ring_size 1024 by default), hashed from "address_index"; a key
 * goes to the first entry at or after its hash, and retry attempt {@code n} takes the {@code n}-th
 * following entry (Ring::chooseHost(h, attempt)). Removing a host moves only the keys it owned.
 * Envoy hashes with xxHash64; this uses a 64-bit FNV-1a with a final mix, which keeps the
 * consistency property though not Envoy's exact key-to-host assignment.
 */
final class HashRing {
  private static final int MIN_RING_SIZE = 1024;
  private final long[] hashes;
  private final UpstreamHost[] owners;

  private HashRing(long[] hashes, UpstreamHost[] owners) {
    this.hashes = hashes;
    this.owners = owners;
  }

  static HashRing of(List<UpstreamHost> hosts) {
    long totalWeight = hosts.stream().mapToLong(h -> Math.max(1, h.weight())).sum();
    record Entry(long hash, UpstreamHost host) {}
    List<Entry> entries = new ArrayList<>();
    for (UpstreamHost h : hosts) {
      long count = Math.max(1, (long) Math.ceil((double) MIN_RING_SIZE * Math.max(1, h.weight()) / totalWeight));
      for (long i = 0; i < count; i++) {
        entries.add(new Entry(hash(h.key() + "_" + i), h));
      }
    }
    entries.sort((a, b) -> Long.compareUnsigned(a.hash(), b.hash()));
    long[] hashes = new long[entries.size()];
    UpstreamHost[] owners = new UpstreamHost[entries.size()];
    for (int i = 0; i < hashes.length; i++) {
      hashes[i] = entries.get(i).hash();
      owners[i] = entries.get(i).host();
    }
    return new HashRing(hashes, owners);
  }

  UpstreamHost choose(long hash, int attempt) {
    int lo = 0;
    int hi = hashes.length;
    while (lo < hi) { // first entry whose hash is >= the key's (unsigned)
      int mid = (lo + hi) >>> 1;
      if (Long.compareUnsigned(hashes[mid], hash) < 0) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return owners[(lo + attempt) % owners.length];
  }

  static long hash(String key) {
    long h = 0xcbf29ce484222325L;
    for (byte b : key.getBytes(StandardCharsets.UTF_8)) {
      h ^= b & 0xff;
      h *= 0x100000001b3L;
    }
    h ^= h >>> 33; // fmix64: spread FNV's weak low bits over the ring
    h *= 0xff51afd7ed558ccdL;
    h ^= h >>> 33;
    h *= 0xc4ceb9fe1a85ec53L;
    h ^= h >>> 33;
    return h;
  }
}
