package dev.weir.testkit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.HealthStatus;
import io.envoyproxy.envoy.config.core.v3.Metadata;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Priority levels, panic and the lb policies behave as Envoy's load_balancer_impl.cc. */
class LoadBalancingTest {
  private static PriorityLoad.Level level(int hosts, int healthy) {
    return new PriorityLoad.Level(hosts, healthy);
  }

  @Test
  void aLevelKeepsAllTrafficWhileAtLeast72PercentOfItsHostsAreHealthy() {
    assertArrayEquals(new int[] {100, 0}, PriorityLoad.compute(List.of(level(10, 8), level(2, 2))).load());
    assertArrayEquals(new int[] {100, 0}, PriorityLoad.compute(List.of(level(100, 72), level(2, 2))).load());
    assertArrayEquals(new int[] {99, 1}, PriorityLoad.compute(List.of(level(100, 71), level(2, 2))).load(),
        "1.4 x 71 % = 99 %: the first percent spills");
  }

  @Test
  void belowThatTheRestSpillsToTheNextLevelInProportion() {
    // 5 of 10 healthy: 1.4 x 50 % = 70 % stays, 30 % spills.
    assertArrayEquals(new int[] {70, 30}, PriorityLoad.compute(List.of(level(10, 5), level(2, 2))).load());
    // 1 of 4: 35 % stays; level 1 (1 of 2 healthy: 70 %) takes the rest up to its health.
    assertArrayEquals(new int[] {35, 65}, PriorityLoad.compute(List.of(level(4, 1), level(2, 1))).load());
  }

  @Test
  void aLevelWithFewerThanHalfItsHostsHealthyIsInPanicUnlessTheTotalIsFull() {
    PriorityLoad partial = PriorityLoad.compute(List.of(level(10, 3), level(10, 4)));
    assertArrayEquals(new boolean[] {true, true}, partial.panic(), "42 % + 56 % < 100 %, both under half healthy");
    PriorityLoad full = PriorityLoad.compute(List.of(level(10, 4), level(10, 4)));
    assertArrayEquals(new boolean[] {false, false}, full.panic(), "56 % + 56 % covers 100 %");
    PriorityLoad covered = PriorityLoad.compute(List.of(level(10, 4), level(2, 2)));
    assertFalse(covered.panic()[0], "the levels together reach 100 %: no panic");
  }

  @Test
  void withNoHealthyHostAnywhereLoadFollowsHostCountsRegardlessOfHealth() {
    PriorityLoad total = PriorityLoad.compute(List.of(level(1, 0), level(3, 0)));
    assertArrayEquals(new int[] {25, 75}, total.load());
    assertArrayEquals(new boolean[] {true, true}, total.panic());
  }

  @Test
  void previousPrioritiesSkipsTriedLevelsAndStartsOverWhenEveryLevelWasTried() {
    PriorityLoad original = PriorityLoad.compute(List.of(level(1, 1), level(1, 1), level(1, 1)));
    PreviousPriorities plugin = new PreviousPriorities(1);
    assertArrayEquals(new int[] {100, 0, 0}, plugin.determine(original).load(), "nothing attempted yet");
    plugin.onHostAttempted(0);
    assertArrayEquals(new int[] {0, 100, 0}, plugin.determine(original).load());
    plugin.onHostAttempted(1);
    assertArrayEquals(new int[] {0, 0, 100}, plugin.determine(original).load());
    plugin.onHostAttempted(2);
    assertArrayEquals(new int[] {100, 0, 0}, plugin.determine(original).load(), "all tried: exclusions cleared");
    plugin.onHostAttempted(0);
    assertArrayEquals(new int[] {0, 100, 0}, plugin.determine(original).load(),
        "after the reset only the levels tried since are avoided");
  }

  @Test
  void previousPrioritiesWithUpdateFrequencyTwoRecomputesEverySecondAttempt() {
    PriorityLoad original = PriorityLoad.compute(List.of(level(1, 1), level(1, 1), level(1, 1)));
    PreviousPriorities plugin = new PreviousPriorities(2);
    plugin.onHostAttempted(0);
    assertArrayEquals(new int[] {100, 0, 0}, plugin.determine(original).load(), "fewer than 2 attempts: unchanged");
    plugin.onHostAttempted(0);
    assertArrayEquals(new int[] {0, 100, 0}, plugin.determine(original).load());
    plugin.onHostAttempted(1);
    assertArrayEquals(new int[] {0, 100, 0}, plugin.determine(original).load(), "3 attempts: the last split is reused");
    plugin.onHostAttempted(1);
    assertArrayEquals(new int[] {0, 0, 100}, plugin.determine(original).load());
  }

  @Test
  void previousPrioritiesSpreadsOverTheRemainingLevelsAvailability() {
    // Level 0 tried; level 1 has 1.4 x 25 % = 35, level 2 100: 35 x 100 / 100 = 35 and 65.
    PriorityLoad original = PriorityLoad.compute(List.of(level(2, 2), level(4, 1), level(2, 2)));
    PreviousPriorities plugin = new PreviousPriorities(1);
    plugin.onHostAttempted(0);
    assertArrayEquals(new int[] {0, 35, 65}, plugin.determine(original).load());
  }

  @Test
  void degradedHostsTakeOnlyTheLoadTheHealthyOnesCannot() {
    // 1 healthy, 3 degraded of 4: healthy 1.4 x 25 = 35, degraded min(100, 1.4 x 75) = 100.
    PriorityLoad one = PriorityLoad.compute(List.of(new PriorityLoad.Level(4, 1, 3)));
    assertArrayEquals(new int[] {35}, one.healthyLoad());
    assertArrayEquals(new int[] {65}, one.degradedLoad());
    assertFalse(one.panic()[0], "healthy + degraded count against panic");
    assertEquals(new PriorityLoad.Choice(0, false), one.choose(34));
    assertEquals(new PriorityLoad.Choice(0, true), one.choose(35), "hash % 100 + 1 = 36 > 35");
    // A healthier lower level is preferred to a level's degraded hosts.
    PriorityLoad two = PriorityLoad.compute(List.of(new PriorityLoad.Level(4, 1, 3), level(2, 2)));
    assertArrayEquals(new int[] {35, 65}, two.healthyLoad());
    assertArrayEquals(new int[] {0, 0}, two.degradedLoad());
  }

  @Test
  void theClusterSetsTheOverprovisioningFactorThePanicThresholdAndWeightedHealth() {
    var strict = new PriorityLoad.Settings(100, 50, false);
    assertArrayEquals(new int[] {80, 20}, PriorityLoad.compute(List.of(level(10, 8), level(2, 2)), strict).load());
    var noPanic = new PriorityLoad.Settings(140, 0, false);
    PriorityLoad down = PriorityLoad.compute(List.of(level(1, 0), level(3, 0)), noPanic);
    assertArrayEquals(new int[] {100, 0}, down.load(), "threshold 0 and nothing healthy: P=0 takes all");
    assertArrayEquals(new boolean[] {false, false}, down.panic());
    // Weighted: the healthy host weighs 1 of 4, so the level's health is 1.4 x 25 % = 35.
    var weighted = new PriorityLoad.Settings(140, 50, true);
    PriorityLoad byWeight = PriorityLoad.compute(List.of(new PriorityLoad.Level(2, 1, 0, 4, 1, 0), level(1, 1)), weighted);
    assertArrayEquals(new int[] {35, 65}, byWeight.load());
  }

  @Test
  void theClustersSettingsReachTheBalancer() {
    var cla = io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment.newBuilder().setClusterName("c")
        .setPolicy(io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment.Policy.newBuilder()
            .setOverprovisioningFactor(com.google.protobuf.UInt32Value.of(100)).setWeightedPriorityHealth(true))
        .build();
    UpstreamCluster c = new UpstreamCluster(Cluster.newBuilder().setName("c").setCommonLbConfig(
        Cluster.CommonLbConfig.newBuilder().setHealthyPanicThreshold(
            io.envoyproxy.envoy.type.v3.Percent.newBuilder().setValue(20.4))).build(), cla, Set.of(), new EnvoyStats());
    assertEquals(new PriorityLoad.Settings(100, 20, true), c.prioritySettings());
  }

  @Test
  void aPoolWhoseOnlyHostIsDownStillRoutesToItInPanic() throws Exception {
    try (ScriptedUpstream only = new ScriptedUpstream("only");
        TestEnvoy envoy = Clusters.envoy(Clusters.cluster(List.of(List.of(only))), RouteAction.newBuilder())) {
      envoy.setHealthy("127.0.0.1", only.port(), false);
      ExchangeResponse r = envoy.send(ExchangeRequest.post("/v1/chat/completions", "{\"model\":\"m\"}"));
      assertEquals(200, r.status(), r.trace().toString());
      assertTrue(envoy.stats().lbPanics.get() > 0);
    }
  }

  private static UpstreamHost host(int i) {
    return new UpstreamHost("10.0.0." + i, 8000, 0, 1, Metadata.getDefaultInstance(), "", false, HealthStatus.HEALTHY);
  }

  @Test
  void ringHashKeepsMostSessionsOfTheHostsThatStayWhenOneLeaves() {
    List<UpstreamHost> four = List.of(host(1), host(2), host(3), host(4));
    HashRing before = HashRing.of(four);
    HashRing after = HashRing.of(List.of(host(1), host(2), host(4)));
    Map<String, Integer> perHost = new HashMap<>();
    int kept = 0;
    int others = 0;
    for (int k = 0; k < 4000; k++) {
      long h = XxHash64.hash("session-" + k);
      UpstreamHost was = before.choose(h, 0);
      perHost.merge(was.key(), 1, Integer::sum);
      if (!was.equals(host(3))) {
        others++;
        kept += was.equals(after.choose(h, 0)) ? 1 : 0;
      }
    }
    assertEquals(4, perHost.size(), "every host owns sessions: " + perHost);
    // Envoy gives each host min_ring_size / hosts entries, so the three that stay gain entries and
    // take some of each other's keys; modulo hashing would keep only about a quarter.
    assertTrue(kept > 0.7 * others, "kept " + kept + " of " + others);
  }

  @Test
  void leastRequestPrefersTheLessBusyOfTwoRandomHosts() {
    List<UpstreamHost> hosts = List.of(host(1), host(2));
    var cla = io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment.newBuilder().setClusterName("c")
        .addEndpoints(io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints.newBuilder()
            .addLbEndpoints(endpoint(hosts.get(0))).addLbEndpoints(endpoint(hosts.get(1)))).build();
    UpstreamCluster cluster = new UpstreamCluster(Cluster.newBuilder().setName("c")
        .setLbPolicy(Cluster.LbPolicy.LEAST_REQUEST).build(), cla, Set.of(), new EnvoyStats());
    for (int i = 0; i < 5; i++) {
      cluster.tryStartRequest(hosts.get(0));
    }
    int idle = 0;
    for (int i = 0; i < 1000; i++) {
      if (cluster.choose(new UpstreamCluster.Context(null, Set.of(), null, 1)).key().equals(hosts.get(1).key())) {
        idle++;
      }
    }
    // Two draws with replacement: the busy host wins only when drawn twice, 1 time in 4.
    assertTrue(idle > 650 && idle < 850, "about 75 % to the idle host: " + idle);
  }

  private static io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint endpoint(UpstreamHost h) {
    return io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint.newBuilder()
        .setEndpoint(io.envoyproxy.envoy.config.endpoint.v3.Endpoint.newBuilder()
            .setAddress(io.envoyproxy.envoy.config.core.v3.Address.newBuilder().setSocketAddress(
                io.envoyproxy.envoy.config.core.v3.SocketAddress.newBuilder().setAddress(h.address())
                    .setPortValue(h.port())))).build();
  }

  @Test
  void hostSelectionMakesTheGivenNumberOfPicksThenKeepsTheLastOne() {
    UpstreamHost one = host(1);
    UpstreamHost two = host(2);
    var cla = io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment.newBuilder().setClusterName("c")
        .addEndpoints(io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints.newBuilder()
            .addLbEndpoints(endpoint(one)).addLbEndpoints(endpoint(two))).build();
    List<String> onePick = new ArrayList<>();
    List<String> twoPicks = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      UpstreamCluster c = new UpstreamCluster(Cluster.newBuilder().setName("c").build(), cla, Set.of(), new EnvoyStats());
      onePick.add(c.choose(new UpstreamCluster.Context(null, Set.of(one.key()), null, 1)).key());
      UpstreamCluster d = new UpstreamCluster(Cluster.newBuilder().setName("c").build(), cla, Set.of(), new EnvoyStats());
      twoPicks.add(d.choose(new UpstreamCluster.Context(null, Set.of(one.key()), null, 2)).key());
    }
    assertTrue(onePick.contains(one.key()), "one pick that lands on an excluded host keeps it");
    assertTrue(twoPicks.stream().noneMatch(one.key()::equals), "a second pick moves on: " + twoPicks);
  }
  private static UpstreamHost host(String address, int weight) {
    return new UpstreamHost(address, 8000, 0, weight, Metadata.getDefaultInstance(), "", false, HealthStatus.HEALTHY);
  }

  /**
   * Expected owners computed outside Java from Envoy's Ring constructor and Ring::chooseHost,
   * ported line by line to Python over the system's libxxhash (XXH64), so the ring and the hash
   * agree with Envoy's, not just with themselves.
   */
  @Test
  void ringHashPutsSessionsWhereEnvoysRingPutsThem() {
    List<UpstreamHost> three = List.of(host("10.0.0.1", 1), host("10.0.0.2", 1), host("10.0.0.3", 1));
    HashRing ring = HashRing.of(three);
    assertEquals(1026, ring.size(), "ceil(1/3 x 1024) / (1/3) entries");
    String[] expected = {"10.0.0.1", "10.0.0.3", "10.0.0.3", "10.0.0.2", "10.0.0.2", "10.0.0.2", "10.0.0.2", "10.0.0.1"};
    for (int k = 1; k <= 8; k++) {
      assertEquals(expected[k - 1] + ":8000", ring.choose(XxHash64.hash("session-" + k), 0).key(), "session-" + k);
    }
    String[] attempts = {"10.0.0.1", "10.0.0.3", "10.0.0.2", "10.0.0.3"};
    for (int a = 0; a < 4; a++) {
      assertEquals(attempts[a] + ":8000", ring.choose(XxHash64.hash("session-1"), a).key(), "attempt " + a);
    }
    HashRing weighted = HashRing.of(List.of(host("10.0.0.1", 1), host("10.0.0.2", 2), host("10.0.0.3", 5)));
    assertEquals(1024, weighted.size());
    String[] byWeight = {"10.0.0.3", "10.0.0.3", "10.0.0.3", "10.0.0.2", "10.0.0.2", "10.0.0.1", "10.0.0.2", "10.0.0.3"};
    for (int k = 1; k <= 8; k++) {
      assertEquals(byWeight[k - 1] + ":8000", weighted.choose(XxHash64.hash("session-" + k), 0).key(), "session-" + k);
    }
  }

  @Test
  void aRouteHashPolicyHashesTheHeaderWithXxHash64AndFoldsSeveralPolicies() {
    var one = RouteAction.newBuilder().addHashPolicy(RouteAction.HashPolicy.newBuilder()
        .setHeader(RouteAction.HashPolicy.Header.newBuilder().setHeaderName("x-session"))).build();
    assertEquals(XxHash64.hash("s1"), Router.hashKey(one, HeaderList.of("x-session", "s1")));
    assertEquals(null, Router.hashKey(one, HeaderList.of()));
    var two = one.toBuilder().addHashPolicy(RouteAction.HashPolicy.newBuilder()
        .setHeader(RouteAction.HashPolicy.Header.newBuilder().setHeaderName("x-user"))).build();
    assertEquals(Long.rotateLeft(XxHash64.hash("s1"), 1) ^ XxHash64.hash("u"),
        Router.hashKey(two, HeaderList.of("x-session", "s1", "x-user", "u")));
    var terminal = RouteAction.newBuilder().addHashPolicy(one.getHashPolicy(0).toBuilder().setTerminal(true))
        .addHashPolicy(two.getHashPolicy(1)).build();
    assertEquals(XxHash64.hash("s1"), Router.hashKey(terminal, HeaderList.of("x-session", "s1", "x-user", "u")));
  }

  private static io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment twoLevels(UpstreamHost p0, UpstreamHost p1) {
    return io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment.newBuilder().setClusterName("c")
        .addEndpoints(io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints.newBuilder().addLbEndpoints(endpoint(p0)))
        .addEndpoints(io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints.newBuilder().setPriority(1)
            .addLbEndpoints(endpoint(p1))).build();
  }

  @Test
  void ringHashChoosesTheLevelFromTheRequestHashAndIgnoresTheRetryPriority() {
    UpstreamCluster c = new UpstreamCluster(Cluster.newBuilder().setName("c").setLbPolicy(Cluster.LbPolicy.RING_HASH)
        .build(), twoLevels(host(1), host(2)), Set.of(), new EnvoyStats());
    PreviousPriorities tried = new PreviousPriorities(1);
    tried.onHostAttempted(0);
    for (int k = 0; k < 20; k++) {
      UpstreamHost h = c.choose(new UpstreamCluster.Context(XxHash64.hash("s" + k), Set.of(), tried, 2));
      assertEquals(host(1).key(), h.key(), "priority 0 takes 100 % of hashes; previous_priorities is not consulted");
    }
    UpstreamCluster rr = new UpstreamCluster(Cluster.newBuilder().setName("c").build(), twoLevels(host(1), host(2)),
        Set.of(), new EnvoyStats());
    assertEquals(host(2).key(), rr.choose(new UpstreamCluster.Context(null, Set.of(), tried, 2)).key(),
        "round robin does consult it");
  }

  @Test
  void aDegradedEndpointGetsOnlyTheLoadItsHealthyPeerCannotTake() {
    UpstreamHost good = host(1);
    UpstreamHost degraded = new UpstreamHost("10.0.0.2", 8000, 0, 1, Metadata.getDefaultInstance(), "", false,
        HealthStatus.DEGRADED);
    var cla = io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment.newBuilder().setClusterName("c")
        .addEndpoints(io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints.newBuilder().addLbEndpoints(endpoint(good))
            .addLbEndpoints(endpoint(degraded).toBuilder().setHealthStatus(HealthStatus.DEGRADED))).build();
    UpstreamCluster c = new UpstreamCluster(Cluster.newBuilder().setName("c").build(), cla, Set.of(), new EnvoyStats());
    int toDegraded = 0;
    for (int i = 0; i < 2000; i++) {
      if (c.choose(new UpstreamCluster.Context(null, Set.of(), null, 1)).key().equals(degraded.key())) {
        toDegraded++;
      }
    }
    // 1 healthy of 2: 70 % healthy load; the degraded host takes the other 30 %.
    assertTrue(toDegraded > 480 && toDegraded < 720, "about 600 of 2000: " + toDegraded);
  }

  @Test
  void roundRobinStartsAtARandomHostAndThenWalksTheList() {
    List<UpstreamHost> three = List.of(host(1), host(2), host(3));
    var cla = io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment.newBuilder().setClusterName("c")
        .addEndpoints(io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints.newBuilder().addLbEndpoints(endpoint(three.get(0)))
            .addLbEndpoints(endpoint(three.get(1))).addLbEndpoints(endpoint(three.get(2)))).build();
    Set<String> firsts = new java.util.HashSet<>();
    for (int n = 0; n < 60; n++) {
      UpstreamCluster c = new UpstreamCluster(Cluster.newBuilder().setName("c").build(), cla, Set.of(), new EnvoyStats());
      List<String> picks = new ArrayList<>();
      for (int i = 0; i < 6; i++) {
        picks.add(c.choose(new UpstreamCluster.Context(null, Set.of(), null, 1)).key());
      }
      firsts.add(picks.get(0));
      int start = three.stream().map(UpstreamHost::key).toList().indexOf(picks.get(0));
      for (int i = 0; i < 6; i++) {
        assertEquals(three.get((start + i) % 3).key(), picks.get(i), "consecutive hosts: " + picks);
      }
    }
    assertEquals(3, firsts.size(), "each balancer starts at its random seed: " + firsts);
  }

  @Test
  void weightedRoundRobinFollowsTheEdfScheduleShares() {
    UpstreamHost light = new UpstreamHost("10.0.0.1", 8000, 0, 1, Metadata.getDefaultInstance(), "", false, HealthStatus.HEALTHY);
    UpstreamHost heavy = new UpstreamHost("10.0.0.2", 8000, 0, 3, Metadata.getDefaultInstance(), "", false, HealthStatus.HEALTHY);
    var cla = io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment.newBuilder().setClusterName("c")
        .addEndpoints(io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints.newBuilder()
            .addLbEndpoints(weighted(light, 1)).addLbEndpoints(weighted(heavy, 3))).build();
    UpstreamCluster c = new UpstreamCluster(Cluster.newBuilder().setName("c").build(), cla, Set.of(), new EnvoyStats());
    int heavyPicks = 0;
    for (int i = 0; i < 400; i++) {
      heavyPicks += c.choose(new UpstreamCluster.Context(null, Set.of(), null, 1)).key().equals(heavy.key()) ? 1 : 0;
    }
    assertTrue(Math.abs(heavyPicks - 300) <= 1, "EDF gives exact shares: " + heavyPicks);
  }

  @Test
  void weightedLeastRequestDividesEachWeightByActiveRequestsPlusOne() {
    UpstreamHost big = new UpstreamHost("10.0.0.1", 8000, 0, 2, Metadata.getDefaultInstance(), "", false, HealthStatus.HEALTHY);
    UpstreamHost small = new UpstreamHost("10.0.0.2", 8000, 0, 1, Metadata.getDefaultInstance(), "", false, HealthStatus.HEALTHY);
    var cla = io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment.newBuilder().setClusterName("c")
        .addEndpoints(io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints.newBuilder()
            .addLbEndpoints(weighted(big, 2)).addLbEndpoints(weighted(small, 1))).build();
    UpstreamCluster c = new UpstreamCluster(Cluster.newBuilder().setName("c").setLbPolicy(Cluster.LbPolicy.LEAST_REQUEST)
        .build(), cla, Set.of(), new EnvoyStats());
    for (int i = 0; i < 3; i++) {
      c.tryStartRequest(big);
    }
    int toSmall = 0;
    for (int i = 0; i < 300; i++) {
      toSmall += c.choose(new UpstreamCluster.Context(null, Set.of(), null, 1)).key().equals(small.key()) ? 1 : 0;
    }
    // big: 2 / (3 + 1) = 0.5, small: 1 / (0 + 1) = 1: two picks in three go to small (P2C would give three in four).
    assertTrue(Math.abs(toSmall - 200) <= 2, "EDF over weight / (active + 1): " + toSmall);
  }

  private static io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint weighted(UpstreamHost h, int weight) {
    return endpoint(h).toBuilder().setLoadBalancingWeight(com.google.protobuf.UInt32Value.of(weight)).build();
  }
  /** Expected owners from a line-by-line Python port of MaglevTable over libxxhash, as for the ring. */
  @Test
  void maglevPutsSessionsWhereEnvoysTablePutsThem() {
    List<UpstreamHost> three = List.of(host("10.0.0.1", 1), host("10.0.0.2", 1), host("10.0.0.3", 1));
    MaglevTable table = MaglevTable.of(three, (int) MaglevTable.DEFAULT_TABLE_SIZE, false);
    String[] expected = {"10.0.0.2", "10.0.0.3", "10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.3", "10.0.0.2"};
    for (int k = 1; k <= 8; k++) {
      assertEquals(expected[k - 1] + ":8000", table.choose(XxHash64.hash("session-" + k), 0).key(), "session-" + k);
    }
    String[] attempts = {"10.0.0.2", "10.0.0.3", "10.0.0.2", "10.0.0.1"};
    for (int a = 0; a < 4; a++) {
      assertEquals(attempts[a] + ":8000", table.choose(XxHash64.hash("session-1"), a).key(), "attempt " + a);
    }
    MaglevTable weighted = MaglevTable.of(List.of(host("10.0.0.1", 1), host("10.0.0.2", 2), host("10.0.0.3", 5)),
        (int) MaglevTable.DEFAULT_TABLE_SIZE, false);
    String[] byWeight = {"10.0.0.2", "10.0.0.3", "10.0.0.2", "10.0.0.1", "10.0.0.3", "10.0.0.1", "10.0.0.3", "10.0.0.2"};
    for (int k = 1; k <= 8; k++) {
      assertEquals(byWeight[k - 1] + ":8000", weighted.choose(XxHash64.hash("session-" + k), 0).key(), "session-" + k);
    }
    org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> MaglevTable.of(three,
        Cluster.newBuilder().setMaglevLbConfig(Cluster.MaglevLbConfig.newBuilder()
            .setTableSize(com.google.protobuf.UInt64Value.of(65536))).build()), "the table size must be prime");
  }
  @Test
  void withPanicDisabledAPoolWithNoHealthyHostGetsNoHost() {
    var cla = io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment.newBuilder().setClusterName("c")
        .addEndpoints(io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints.newBuilder().addLbEndpoints(endpoint(host(1)))
            .addLbEndpoints(endpoint(host(2)))).build();
    Cluster noPanic = Cluster.newBuilder().setName("c").setCommonLbConfig(Cluster.CommonLbConfig.newBuilder()
        .setHealthyPanicThreshold(io.envoyproxy.envoy.type.v3.Percent.newBuilder().setValue(0))).build();
    UpstreamCluster c = new UpstreamCluster(noPanic, cla, Set.of(host(1).key(), host(2).key()), new EnvoyStats());
    assertEquals(null, c.choose(new UpstreamCluster.Context(null, Set.of(), null, 6)), "no healthy host, no panic: no pick");
    UpstreamCluster panics = new UpstreamCluster(noPanic.toBuilder().clearCommonLbConfig().build(), cla,
        Set.of(host(1).key(), host(2).key()), new EnvoyStats());
    assertTrue(panics.choose(new UpstreamCluster.Context(null, Set.of(), null, 1)) != null, "default 50 %: panic routes");
  }
}
