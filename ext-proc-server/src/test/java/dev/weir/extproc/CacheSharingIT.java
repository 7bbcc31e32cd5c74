package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.ApiKeys;
import dev.weir.extproc.cache.CachedAnswer;
import dev.weir.testkit.ExchangeResponse;
import dev.weir.testkit.RedisServerProcess;
import dev.weir.testkit.ScriptedUpstream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Three ext-proc replicas share one Redis: an answer stored through one is served by the others,
 * a restarted replica still hits, and a Redis outage turns lookups into misses without failing a
 * request, recovering by itself when Redis is back.
 */
class CacheSharingIT {
  static final String KEY = "sk-cache-shared";
  static final String YAML = """
      backends: [ { name: up, provider: openai-compatible, url: UPSTREAM } ]
      pools: [ { name: p, members: [ { backend: up } ] } ]
      models: [ { name: m, pool: p } ]
      policies: { cache: { tiers: [ exact ] } }
      consumers: [ { name: team, keys: [ "%s" ], models: [ "*" ] } ]
      redis: { uri: "REDIS" }
      """;

  RedisServerProcess redis;
  ScriptedUpstream upstream;
  Gateway a;
  Gateway b;
  Gateway c;

  static String chat(String prompt) {
    return "{\"model\":\"m\",\"temperature\":0,\"messages\":[{\"role\":\"user\",\"content\":\"" + prompt + "\"}]}";
  }

  Gateway replica() throws Exception {
    return new Gateway(YAML.formatted(ApiKeys.hash(KEY)).replace("REDIS", redis.uri()), upstream);
  }

  @BeforeEach
  void start() throws Exception {
    redis = new RedisServerProcess();
    upstream = new ScriptedUpstream("up");
    a = replica();
    b = replica();
    c = replica();
  }

  @AfterEach
  void stop() throws Exception {
    for (Gateway g : new Gateway[] {a, b, c}) {
      g.close();
    }
    upstream.close();
    redis.close();
  }

  /** Waits until Redis holds {@code n} entries (replicas write them in the background). */
  void awaitEntries(int n) throws InterruptedException {
    for (int i = 0; i < 200 && !(":" + n).equals(redis.command("ZCARD {weir:cache}:order")); i++) {
      Thread.sleep(10);
    }
    assertEquals(":" + n, redis.command("ZCARD {weir:cache}:order"));
  }

  @Test
  void anAnswerStoredThroughOneReplicaIsServedByTheOthersAndAfterARestart() throws Exception {
    ExchangeResponse first = a.chat(KEY, chat("What is the capital of France?"));
    assertEquals(200, first.status());
    assertEquals("miss", first.header("x-weir-cache"));
    awaitEntries(1);

    for (Gateway other : new Gateway[] {b, c}) {
      ExchangeResponse hit = other.chat(KEY, chat("What is the capital of France?"));
      assertEquals("hit-exact", hit.header("x-weir-cache"));
      assertEquals(first.bodyText(), hit.bodyText());
    }
    assertEquals(1, upstream.received().size(), "only the first request reached the backend");

    c.close();
    c = replica();
    assertEquals("hit-exact", c.chat(KEY, chat("What is the capital of France?")).header("x-weir-cache"));
    assertEquals(1, upstream.received().size());
  }

  @Test
  void withRedisDownLookupsMissWithoutErrorsAndSharingResumesWhenItIsBack() throws Exception {
    redis.kill();
    for (int i = 0; i < 5; i++) {
      ExchangeResponse r = (i % 2 == 0 ? a : b).chat(KEY, chat("outage question " + i));
      assertEquals(200, r.status(), r.bodyText());
      assertEquals("miss", r.header("x-weir-cache"));
    }
    // Each replica still answers what it stored itself.
    assertEquals("hit-exact", a.chat(KEY, chat("outage question 0")).header("x-weir-cache"));

    redis.start();
    boolean shared = false;
    long t0 = System.currentTimeMillis();
    for (int i = 0; !shared && System.currentTimeMillis() - t0 < 20_000; i++) {
      a.chat(KEY, chat("after the outage " + i));
      Thread.sleep(100);
      shared = "hit-exact".equals(b.chat(KEY, chat("after the outage " + i)).header("x-weir-cache"));
    }
    assertTrue(shared, "an entry stored through A is served by B again once Redis is back");
  }

  @Test
  void everyReplicaLearnsNewEntriesForItsSemanticIndexAndARestartedOneRebuildsIt() throws Exception {
    for (Gateway g : new Gateway[] {a, b, c}) {
      g.close();
    }
    String semantic = YAML.replace("tiers: [ exact ]", "tiers: [ exact, semantic ]");
    java.util.function.Supplier<Gateway> replica = () -> {
      try {
        return new Gateway(semantic.formatted(ApiKeys.hash(KEY)).replace("REDIS", redis.uri()), upstream);
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
    };
    a = replica.get();
    b = replica.get();
    c = replica.get();
    assertEquals("miss", a.chat(KEY, chat("How do I reverse a list in Python?")).header("x-weir-cache"));
    awaitEntries(1);
    String paraphrase = chat("How can I reverse a list in Python?");
    awaitLearnt(b);
    assertEquals("hit-semantic", b.chat(KEY, paraphrase).header("x-weir-cache"));
    c.close();
    c = replica.get();
    awaitLearnt(c);
    assertEquals("hit-semantic", c.chat(KEY, paraphrase).header("x-weir-cache"),
        "the restarted replica rebuilt its index from Redis");
    assertEquals(1, upstream.received().size());
  }

  @Test
  void flushingOneConsumersEntriesDropsThemInRedisAndEveryReplicaAndKeepsTheRest() throws Exception {
    a.chat(KEY, chat("What is the capital of Spain?"));
    awaitEntries(1);
    assertEquals("hit-exact", b.chat(KEY, chat("What is the capital of Spain?")).header("x-weir-cache"));

    var cache = a.server.runtime().stores().cache();
    assertEquals(0, cache.flush(new CachedAnswer.Selector("someone-else", null)), "another consumer's: none");
    assertEquals(0, cache.flush(new CachedAnswer.Selector("team", "another-model")), "another model's: none");
    assertEquals(":1", redis.command("ZCARD {weir:cache}:order"));
    assertEquals("hit-exact", b.chat(KEY, chat("What is the capital of Spain?")).header("x-weir-cache"));

    assertEquals(1, cache.flush(new CachedAnswer.Selector("team", "m")));
    awaitEntries(0);
    for (Gateway g : new Gateway[] {a, b, c}) {
      var local = g.server.runtime().stores().cache();
      for (int i = 0; i < 200 && local.localSize() > 0; i++) {
        Thread.sleep(10);
      }
      assertEquals("miss", g.chat(KEY, chat("What is the capital of Spain?")).header("x-weir-cache"));
      awaitEntries(1);
      cache.flush(CachedAnswer.Selector.ALL);
      awaitEntries(0);
    }
  }

  /** Waits until a replica learnt the one entry from Redis and indexed it. */
  static void awaitLearnt(Gateway g) throws InterruptedException {
    var cache = g.server.runtime().stores().cache();
    for (int i = 0; i < 200 && cache.localSize() < 1; i++) {
      Thread.sleep(10);
    }
    assertEquals(1, cache.localSize());
    ((dev.weir.extproc.cache.LuceneSemanticTier) cache.semanticTier()).awaitIndexed();
  }
}
