package dev.weir.extproc.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.v1.RedisSettings;
import dev.weir.testkit.RedisServerProcess;
import io.lettuce.core.RedisConnectionException;
import io.lettuce.core.RedisException;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.cluster.api.sync.RedisClusterCommands;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The connector every Redis-backed store opens Redis through, against real redis-server processes. */
class RedisConnectorIT {

  private static RedisSettings standalone(int port) {
    return RedisSettings.newBuilder().setUri("redis://127.0.0.1:" + port).setTimeoutMillis(500).build();
  }

  private static long lettuceThreads() {
    return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().startsWith("lettuce-")).count();
  }

  @Test
  void opensSyncAndAsyncCommandsOnStandaloneRedisOnlyWhenFirstUsed() throws Exception {
    try (RedisServerProcess redis = new RedisServerProcess();
        RedisConnector<RedisConnector.Connections> connector = new RedisConnector<>(standalone(redis.port()), c -> c)) {
      assertNull(connector.current(), "nothing connects at construction");
      RedisConnector.Connections connections = connector.get();
      connections.sync().set("k", "v");
      assertEquals("v", connections.async().get("k").get(5, TimeUnit.SECONDS));
      assertTrue(connector.current() == connections && connector.get() == connections, "opened once");
    }
  }

  @Test
  void aClosedConnectorNeverOpensAClientAgain() throws Exception {
    try (RedisServerProcess redis = new RedisServerProcess()) {
      RedisConnector<RedisConnector.Connections> connector = new RedisConnector<>(standalone(redis.port()), c -> c);
      connector.get().sync().set("k", "v");
      connector.close();
      assertNull(connector.current(), "closing forgets the connections");
      assertThrows(io.lettuce.core.RedisConnectionException.class, connector::get,
          "a store replaced by a reload must not reconnect behind the new one");
      connector.connectInBackground();
      Thread.sleep(200);
      assertNull(connector.current());
    }
  }

  @Test
  void opensARedisClusterWhereKeysSpreadOverNodesAndHashTaggedKeysShareASlot() throws Exception {
    List<RedisServerProcess> nodes = RedisServerProcess.startCluster(3);
    try {
      RedisSettings settings = RedisSettings.newBuilder().setUri("redis://127.0.0.1:" + nodes.get(0).port())
          .setCluster(true).setTimeoutMillis(2000).build();
      try (RedisConnector<RedisClusterCommands<String, String>> connector =
          new RedisConnector<>(settings, RedisConnector.Connections::sync)) {
        RedisClusterCommands<String, String> redis = connector.get();
        for (int i = 0; i < 30; i++) {
          redis.set("spread-" + i, Integer.toString(i));
        }
        assertEquals("29", redis.get("spread-29"), "read back through the node that owns the slot");
        // A script may only touch keys of one slot: the hash tag puts both there.
        Long n = redis.eval("redis.call('SET', KEYS[1], 'a'); return redis.call('RPUSH', KEYS[2], 'b')",
            ScriptOutputType.INTEGER, "{tag}:one", "{tag}:two");
        assertEquals(1L, n);
      }
      List<String> sizes = nodes.stream().map(node -> node.command("DBSIZE")).toList();
      assertFalse(sizes.contains(":0"), "the untagged keys went to every node: " + sizes);
    } finally {
      for (RedisServerProcess node : nodes) {
        node.close();
      }
    }
  }

  @Test
  void aRedisThatIsDownFailsClearlyThenFastAndIsConnectedOnceItIsBack() throws Exception {
    try (RedisServerProcess redis = new RedisServerProcess()) {
      redis.kill();
      long threadsBefore = lettuceThreads();
      try (RedisConnector<RedisClusterCommands<String, String>> connector =
          new RedisConnector<>(standalone(redis.port()), RedisConnector.Connections::sync)) {
        RedisConnectionException refused = assertThrows(RedisConnectionException.class, connector::get);
        assertTrue(refused.getMessage().startsWith("cannot connect to Redis: "), refused.getMessage());
        RedisConnectionException again = assertThrows(RedisConnectionException.class, connector::get);
        assertEquals("Redis not connected (retrying every second)", again.getMessage(),
            "within the second no new attempt waits on the network");
        assertFalse(connector.tryConnect());
        for (int i = 0; i < 100 && lettuceThreads() > threadsBefore; i++) {
          Thread.sleep(20);
        }
        assertTrue(lettuceThreads() <= threadsBefore, "the failed attempt shut its client down");

        redis.start();
        Thread.sleep(1100);
        assertEquals("PONG", connector.get().ping());
      }
    }
  }

  @Test
  void anOpenConnectionRejectsCommandsWhileRedisIsDownAndReconnectsByItself() throws Exception {
    try (RedisServerProcess redis = new RedisServerProcess();
        RedisConnector<RedisClusterCommands<String, String>> connector =
            new RedisConnector<>(standalone(redis.port()), RedisConnector.Connections::sync)) {
      RedisClusterCommands<String, String> commands = connector.get();
      commands.set("k", "v");
      redis.kill();
      Thread.sleep(200); // for Lettuce to see the socket close
      RedisException rejected = assertThrows(RedisException.class, () -> commands.get("k"));
      assertTrue(rejected.getMessage().contains("not connected"), "rejected, not queued: " + rejected.getMessage());

      redis.start(); // same port, empty
      String answer = null;
      for (int i = 0; i < 200 && answer == null; i++) {
        try {
          answer = commands.ping();
        } catch (RedisException notYet) {
          Thread.sleep(50);
        }
      }
      assertEquals("PONG", answer, "the same connection came back without a new get()");
      assertTrue(connector.get() == commands);
    }
  }
}
