package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.ApiKeys;
import dev.weir.testkit.ExchangeResponse;
import dev.weir.testkit.RedisServerProcess;
import dev.weir.testkit.ScriptedUpstream;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Three ext-proc replicas on one real Redis agree on the breaker: answers counted by different
 * replicas add up to a trip, and every replica then sees it (the router pass of each answers at
 * once, with the same Retry-After, when the whole pool is tripped).
 */
class BreakerSharingIT {
  static final String KEY = "sk-breaker-shared";
  static final String YAML = """
      backends:
        - { name: ptu, provider: openai-compatible, url: PTU }
        - { name: paygo, provider: openai-compatible, url: PAYGO }
      pools:
        - name: p
          members: [ { backend: ptu }, { backend: paygo, priority: 1 } ]
          breaker: { statuses: [ "429" ], count: 3, intervalSeconds: 60, acceptRetryAfter: true }
      models: [ { name: m, pool: p } ]
      consumers: [ { name: team, keys: [ "%s" ], models: [ "*" ] } ]
      redis: { uri: "REDIS" }
      """;
  static final String CHAT = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

  RedisServerProcess redis;
  ScriptedUpstream ptu;
  ScriptedUpstream paygo;
  List<Gateway> replicas;

  @BeforeEach
  void start() throws Exception {
    redis = new RedisServerProcess();
    ptu = new ScriptedUpstream("ptu");
    paygo = new ScriptedUpstream("paygo");
    String yaml = YAML.formatted(ApiKeys.hash(KEY)).replace("REDIS", redis.uri()).replace("PTU", ptu.url())
        .replace("PAYGO", paygo.url());
    replicas = List.of(new Gateway(yaml, ptu), new Gateway(yaml, ptu), new Gateway(yaml, ptu));
  }

  @AfterEach
  void stop() throws Exception {
    for (Gateway g : replicas) {
      g.close();
    }
    ptu.close();
    paygo.close();
    redis.close();
  }

  @Test
  void answersCountedByDifferentReplicasTripTheMembersAndEveryReplicaAnswersAtOnce() {
    ptu.fallback(ScriptedUpstream.tooManyRequests(30));
    paygo.fallback(ScriptedUpstream.tooManyRequests(10));
    for (Gateway g : replicas) {
      ExchangeResponse r = g.chat(KEY, CHAT);
      assertEquals(429, r.status(), "both members throttle: the last one's answer; " + r.trace());
    }
    assertEquals(3, ptu.received().size());
    assertEquals(3, paygo.received().size());
    assertEquals(":1", redis.command("EXISTS weir:breaker:trip:p/ptu"),
        "no replica saw three 429s from the PTU, together they did");
    Set<String> retryAfter = new HashSet<>();
    for (Gateway g : replicas) {
      ExchangeResponse r = g.chat(KEY, CHAT);
      assertEquals(429, r.status());
      assertTrue(new String(r.body()).contains("backends_throttled"), new String(r.body()));
      retryAfter.add(r.header("retry-after"));
    }
    assertEquals(1, retryAfter.size(), "every replica gives the same Retry-After: " + retryAfter);
    long seconds = Long.parseLong(retryAfter.iterator().next());
    assertTrue(seconds <= 10 && seconds >= 9, "pay-as-you-go's trip, the sooner to end: " + seconds);
    assertEquals(3, ptu.received().size(), "nothing more was sent to a tripped member");
    assertEquals(3, paygo.received().size());
  }

  @Test
  void replicasShareOneProbeSlotPerPoolAndInterval() {
    dev.weir.config.v1.RedisSettings settings = dev.weir.config.v1.RedisSettings.newBuilder().setUri(redis.uri())
        .setTimeoutMillis(2000).build();
    try (var one = new dev.weir.extproc.breaker.RedisTripStore(settings);
        var two = new dev.weir.extproc.breaker.RedisTripStore(settings)) {
      assertTrue(one.probe("p", 60_000), "the first request of the spell is the probe");
      assertTrue(!two.probe("p", 60_000) && !one.probe("p", 60_000), "no other replica sends one within the interval");
      assertTrue(two.probe("q", 60_000), "each pool has its own slot");
    }
  }
}
