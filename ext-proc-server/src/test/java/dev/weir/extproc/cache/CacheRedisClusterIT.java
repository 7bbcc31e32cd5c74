package dev.weir.extproc.cache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.v1.RedisSettings;
import dev.weir.testkit.RedisServerProcess;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/** The cache's Redis store on a real 3-node Redis Cluster: entries, the cap, the channel, flushes. */
class CacheRedisClusterIT {

  @Test
  void theCacheStoreWorksOnARedisClusterWithEveryKeyInOneSlot() throws Exception {
    List<RedisServerProcess> nodes = RedisServerProcess.startCluster(3);
    try {
      RedisServerProcess entry = nodes.get(0);
      List<String> events = new CopyOnWriteArrayList<>();
      try (RedisCacheStore store = new RedisCacheStore(RedisSettings.newBuilder()
          .setUri("redis://127.0.0.1:" + entry.port()).setCluster(true).setTimeoutMillis(2000).build(), 3, events::add)) {
        assertTrue(store.tryConnect());
        long now = System.currentTimeMillis();
        for (int i = 0; i < 5; i++) {
          store.put(new CachedAnswer("part", "k" + i, "prompt " + i, "{\"choices\":[]}", 1, 1, now,
              now + 60_000 + i, i % 2 == 0 ? "team" : "ops", "m"), now);
        }
        assertNull(store.get("part", "k0"), "the cap of 3 evicted the soonest to expire");
        assertNotNull(store.get("part", "k4"));
        List<String> live = new ArrayList<>();
        store.forEachLive(now, a -> live.add(a.key()));
        assertEquals(List.of("k2", "k3", "k4"), live);

        assertEquals(2, store.flush(new CachedAnswer.Selector("team", null)), "k2 and k4 were stored by team");
        assertNull(store.get("part", "k4"));
        assertNotNull(store.get("part", "k3"));
        for (int i = 0; i < 100 && !events.contains("flush team *"); i++) {
          Thread.sleep(20);
        }
        assertTrue(events.contains("put part k4"), "the channel carries puts: " + events);
        assertTrue(events.contains("flush team *"), "and flushes: " + events);
      }
      long holding = nodes.stream().filter(n -> !":0".equals(n.command("DBSIZE"))).count();
      assertEquals(1, holding, "every cache key is in one slot, so on one node");
    } finally {
      for (RedisServerProcess n : nodes) {
        n.close();
      }
    }
  }
}
