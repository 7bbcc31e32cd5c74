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
    assertArrayEquals(new int[] {100, 0}, PriorityLoad.compute(List.of(level(10, 8), level(2, 2)), Set.of()).load());
    assertArrayEquals(new int[] {100, 0}, PriorityLoad.compute(List.of(level(100, 72), level(2, 2)), Set.of()).load());
  }

  @Test
  void belowThatTheRestSpillsToTheNextLevelInProportion() {
    // 5 of 10 healthy: 1.4 x 50 % = 70 % stays, 30 % spills.
    assertArrayEquals(new int[] {70, 30}, PriorityLoad.compute(List.of(level(10, 5), level(2, 2)), Set.of()).load());
    // 1 of 4: 35 % stays; level 1 (1 of 2 healthy: 70 %) takes the rest up to its health.
    assertArrayEquals(new int[] {35, 65}, PriorityLoad.compute(List.of(level(4, 1), level(2, 1)), Set.of()).load());
  }

  @Test
  void aLevelWithFewerThanHalfItsHostsHealthyIsInPanicUnlessTheTotalIsFull() {
    PriorityLoad partial = PriorityLoad.compute(List.of(level(10, 3), level(10, 4)), Set.of());
    assertArrayEquals(new boolean[] {true, true}, partial.panic(), "42 % + 56 % < 100 %, both under half healthy");
    PriorityLoad full = PriorityLoad.compute(List.of(level(10, 4), level(10, 4)), Set.of());
    assertArrayEquals(new boolean[] {false, false}, full.panic(), "56 % + 56 % covers 100 %");
    PriorityLoad covered = PriorityLoad.compute(List.of(level(10, 4), level(2, 2)), Set.of());
    assertFalse(covered.panic()[0], "the levels together reach 100 %: no panic");
  }

  @Test
  void withNoHealthyHostAnywhereLoadFollowsHostCountsRegardlessOfHealth() {
    PriorityLoad total = PriorityLoad.compute(List.of(level(1, 0), level(3, 0)), Set.of());
    assertArrayEquals(new int[] {25, 75}, total.load());
    assertArrayEquals(new boolean[] {true, true}, total.panic());
  }

  @Test
  void previousPrioritiesSkipsTriedLevelsAndKeepsTheLoadWhenAllWereTried() {
    List<PriorityLoad.Level> levels = List.of(level(1, 1), level(1, 1));
    assertArrayEquals(new int[] {0, 100}, PriorityLoad.compute(levels, Set.of(0)).load());
    assertArrayEquals(new int[] {100, 0}, PriorityLoad.compute(levels, Set.of(0, 1)).load());
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
      long h = HashRing.hash("session-" + k);
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
      if (cluster.choose(new UpstreamCluster.Context(null, Set.of(), Set.of(), 1)).key().equals(hosts.get(1).key())) {
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
      onePick.add(c.choose(new UpstreamCluster.Context(null, Set.of(one.key()), Set.of(), 1)).key());
      UpstreamCluster d = new UpstreamCluster(Cluster.newBuilder().setName("c").build(), cla, Set.of(), new EnvoyStats());
      twoPicks.add(d.choose(new UpstreamCluster.Context(null, Set.of(one.key()), Set.of(), 2)).key());
    }
    assertTrue(onePick.contains(one.key()), "one pick that lands on an excluded host keeps it");
    assertTrue(twoPicks.stream().noneMatch(one.key()::equals), "a second pick moves on: " + twoPicks);
  }
}
