package dev.weir.testkit;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import java.util.ArrayList;
import java.util.List;

/**
 * Envoy's ring hash over one priority level's hosts, built as
 * source/extensions/load_balancing_policies/ring_hash/ring_hash_lb.cc RingHashLoadBalancer::Ring
 * builds it: host weights are normalized to sum 1 (thread_aware_lb_impl.cc normalizeHostWeights),
 * scale = min(ceil(min weight × minimum_ring_size) / min weight, maximum_ring_size), and each host
 * gets entries up to the running target scale × weight, hashed with XXH64 from
 * "{key}_{i}" where the key is the endpoint's {@code envoy.lb} {@code hash_key} metadata, else its
 * hostname with use_hostname_for_hashing, else "address:port" (hashKey). A request hash goes to the
 * first entry at or after it (the ketama search of Ring::chooseHost), and host-selection attempt
 * {@code n} takes the entry {@code n} places further on.
 */
final class HashRing {
  static final long DEFAULT_MIN_RING_SIZE = 1024;
  static final long DEFAULT_MAX_RING_SIZE = 8L * 1024 * 1024;
  private final long[] hashes;
  private final UpstreamHost[] owners;

  private HashRing(long[] hashes, UpstreamHost[] owners) {
    this.hashes = hashes;
    this.owners = owners;
  }

  static HashRing of(List<UpstreamHost> hosts) {
    return of(hosts, DEFAULT_MIN_RING_SIZE, DEFAULT_MAX_RING_SIZE, false);
  }

  /** The ring for a cluster's ring_hash_lb_config and common_lb_config.consistent_hashing_lb_config. */
  static HashRing of(List<UpstreamHost> hosts, Cluster cluster) {
    var config = cluster.getRingHashLbConfig();
    long min = config.hasMinimumRingSize() ? config.getMinimumRingSize().getValue() : DEFAULT_MIN_RING_SIZE;
    long max = config.hasMaximumRingSize() ? config.getMaximumRingSize().getValue() : DEFAULT_MAX_RING_SIZE;
    if (min > max) {
      throw new IllegalArgumentException("ring hash: minimum_ring_size (" + min + ") > maximum_ring_size (" + max + ")");
    }
    if (config.getHashFunction() == Cluster.RingHashLbConfig.HashFunction.MURMUR_HASH_2) {
      throw new IllegalArgumentException("cluster " + cluster.getName()
          + ": the test-kit builds rings with XX_HASH only, not MURMUR_HASH_2");
    }
    return of(hosts, min, max, cluster.getCommonLbConfig().getConsistentHashingLbConfig().getUseHostnameForHashing());
  }

  static HashRing of(List<UpstreamHost> hosts, long minRingSize, long maxRingSize, boolean useHostname) {
    if (hosts.isEmpty()) {
      return new HashRing(new long[0], new UpstreamHost[0]);
    }
    long sum = hosts.stream().mapToLong(UpstreamHost::weight).sum();
    double minWeight = 1.0;
    double[] normalized = new double[hosts.size()];
    for (int i = 0; i < hosts.size(); i++) {
      normalized[i] = (double) hosts.get(i).weight() / sum;
      minWeight = Math.min(minWeight, normalized[i]);
    }
    double scale = Math.min(Math.ceil(minWeight * minRingSize) / minWeight, (double) maxRingSize);
    record Entry(long hash, UpstreamHost host) {}
    List<Entry> entries = new ArrayList<>((int) Math.ceil(scale));
    double current = 0;
    double target = 0;
    for (int h = 0; h < hosts.size(); h++) {
      UpstreamHost host = hosts.get(h);
      String key = hashKey(host, useHostname);
      target += scale * normalized[h];
      for (long i = 0; current < target; i++) {
        entries.add(new Entry(XxHash64.hash(key + "_" + i), host));
        current++;
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

  /** ring_hash_lb.cc RingHashLoadBalancer::hashKey. */
  static String hashKey(UpstreamHost host, boolean useHostname) {
    Value key = host.metadata().getFilterMetadataOrDefault("envoy.lb", Struct.getDefaultInstance())
        .getFieldsOrDefault("hash_key", null);
    if (key != null && key.hasStringValue()) {
      return key.getStringValue();
    }
    if (useHostname) {
      return host.hostname();
    }
    return host.address().contains(":") ? "[" + host.address() + "]:" + host.port() : host.key();
  }

  int size() {
    return hashes.length;
  }

  /** Ring::chooseHost(h, attempt), the ketama search with Envoy's signed indexes; null on an empty ring. */
  UpstreamHost choose(long h, int attempt) {
    if (hashes.length == 0) {
      return null;
    }
    long lowp = 0;
    long highp = hashes.length;
    long midp;
    while (true) {
      midp = (lowp + highp) / 2;
      if (midp == hashes.length) {
        midp = 0;
        break;
      }
      long midval = hashes[(int) midp];
      long midval1 = midp == 0 ? 0 : hashes[(int) midp - 1];
      if (Long.compareUnsigned(h, midval) <= 0 && Long.compareUnsigned(h, midval1) > 0) {
        break;
      }
      if (Long.compareUnsigned(midval, h) < 0) {
        lowp = midp + 1;
      } else {
        highp = midp - 1;
      }
      if (lowp > highp) {
        midp = 0;
        break;
      }
    }
    if (attempt > 0) {
      midp = (midp + attempt) % hashes.length;
    }
    return owners[(int) midp];
  }
}
