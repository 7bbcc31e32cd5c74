package dev.weir.extproc.limits;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.v1.RedisSettings;
import dev.weir.testkit.RedisServerProcess;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The Redis store on a real 3-node Redis Cluster and behind a real Sentinel, not only standalone. */
class RedisTopologiesIT {

  /** Keys of one limit land on different slots (different nodes); each must still count exactly. */
  private static void exercise(LimitStore store) {
    for (int i = 0; i < 30; i++) {
      String key = "tpm|consumer-" + i + "|tpm";
      assertTrue(store.reserveWindow(key, 100, 60).admitted());
      LimitStore.Window refused = store.reserveWindow(key, 100, 60);
      assertFalse(refused.admitted(), key);
      assertEquals(40, refused.remaining());
      store.adjustWindow(key, refused.second(), -50); // a refund
      assertTrue(store.reserveWindow(key, 100, 60).admitted(), key + " has room after the refund");
      assertEquals(60 - 50 + 60, store.windowUsed(key), "read without changing: " + key);
      assertEquals(70, store.windowUsed(key));
      String quota = "q|consumer-" + i + "|quota|2026-11";
      assertTrue(store.reserveCounter(quota, 1000, 600, 3600).admitted());
      assertEquals(400 - 300, store.reserveCounter(quota, 1000, 300, 3600).remaining());
      assertEquals(900, store.counterUsed(quota));
      assertEquals(0, store.counterUsed(quota + "-never-written"));
    }
    assertTrue(Math.abs(store.nowMillis() - System.currentTimeMillis()) < 5_000, "Redis clock");
  }

  @Test
  void worksOnARedisCluster() throws Exception {
    List<RedisServerProcess> nodes = RedisServerProcess.startCluster(3);
    try {
      try (RedisLimitStore store = new RedisLimitStore(RedisSettings.newBuilder()
          .setUri("redis://127.0.0.1:" + nodes.get(0).port()).setCluster(true).setTimeoutMillis(1000).build(), "t:")) {
        exercise(store);
      }
      long keysOnNodes = nodes.stream().filter(n -> !":0".equals(n.command("DBSIZE"))).count();
      assertTrue(keysOnNodes >= 2, "keys were spread over the cluster's nodes: " + keysOnNodes);
    } finally {
      for (RedisServerProcess n : nodes) {
        n.close();
      }
    }
  }

  @Test
  void worksBehindSentinel() throws Exception {
    try (RedisServerProcess master = new RedisServerProcess()) {
      int sentinelPort = RedisServerProcess.freePort();
      Path conf = Files.createTempDirectory("weir-sentinel").resolve("sentinel.conf");
      Files.writeString(conf, "port " + sentinelPort + "\nbind 127.0.0.1\nprotected-mode no\n"
          + "sentinel monitor weirmaster 127.0.0.1 " + master.port() + " 1\n");
      Process sentinel = new ProcessBuilder("redis-server", conf.toString(), "--sentinel")
          .redirectErrorStream(true).redirectOutput(conf.resolveSibling("sentinel.log").toFile()).start();
      try {
        for (int i = 0; i < 100; i++) {
          try (java.net.Socket s = new java.net.Socket("127.0.0.1", sentinelPort)) {
            break;
          } catch (java.io.IOException notYet) {
            Thread.sleep(50);
          }
        }
        try (RedisLimitStore store = new RedisLimitStore(RedisSettings.newBuilder()
            .setUri("redis-sentinel://127.0.0.1:" + sentinelPort + "/0#weirmaster").setTimeoutMillis(1000).build(),
            "t:")) {
          exercise(store);
        }
        assertFalse(":0".equals(master.command("DBSIZE")), "the counters went to the master Sentinel named");
      } finally {
        sentinel.destroyForcibly();
        sentinel.waitFor(5, TimeUnit.SECONDS);
      }
    }
  }
}
