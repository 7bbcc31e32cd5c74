package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.ApiKeys;
import dev.weir.config.ConfigLoader;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.testkit.ExchangeRequest;
import dev.weir.testkit.ScriptedUpstream;
import dev.weir.testkit.TestEnvoy;
import dev.weir.xds.EnvoyResources;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A config change that moves a pool from one backend to another, under traffic, while Envoy (fed
 * by the control plane) and ext-proc-server switch at different moments in either order: every
 * answer is a 2xx.
 */
class ConfigSkewTest {
  static final String CHAT = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

  private static String config(ScriptedUpstream a, ScriptedUpstream b, String member) {
    return """
        backends:
          - { name: %s, provider: openai-compatible, url: "%s" }
        pools: [ { name: p, members: [ { backend: %s } ] } ]
        models: [ { name: m, pool: p } ]
        consumers: [ { name: team, keys: [ "%s" ], models: [ "*" ] } ]
        """.formatted(member, member.equals("old-backend") ? a.url() : b.url(), member, ApiKeys.hash("sk-team"));
  }

  private static TestEnvoy envoyFor(GatewayConfig config, ExtProcServer server) throws Exception {
    EnvoyResources.Resources r = EnvoyResources.build(config);
    return TestEnvoy.builder().extProc("127.0.0.1", server.grpcPort())
        .routerFilter(GatewayFixture.routerFilterFromBootstrap()).routes(r.routes().get(0))
        .resources(r.clusters(), r.endpoints()).build();
  }

  @Test
  void reloadUnderTrafficWithEnvoyAheadOrBehindAnswersOnly2xx(@TempDir Path dir) throws Exception {
    try (ScriptedUpstream a = new ScriptedUpstream("old"); ScriptedUpstream b = new ScriptedUpstream("new")) {
      Path file = dir.resolve("gateway.yaml");
      String v1 = config(a, b, "old-backend");
      String v2 = config(a, b, "new-backend");
      Files.writeString(file, v1);
      ConfigLoader loader = new ConfigLoader(Map.<String, String>of()::get, true);
      GatewayConfig c1 = loader.parse(v1, "v1", dir);
      GatewayConfig c2 = loader.parse(v2, "v2", dir);
      // No file watch: the test decides when ext-proc-server reloads.
      try (ExtProcServer server = new ExtProcServer(c1, Map.<String, String>of()::get, "127.0.0.1", 0, 0, file,
          false, false);
          TestEnvoy before = envoyFor(c1, server); TestEnvoy after = envoyFor(c2, server)) {
        ConcurrentLinkedQueue<String> bad = new ConcurrentLinkedQueue<>();
        AtomicInteger served = new AtomicInteger();
        AtomicBoolean stop = new AtomicBoolean();
        AtomicBoolean envoyUpdated = new AtomicBoolean();
        List<Thread> traffic = List.of(0, 1, 2).stream().map(i -> Thread.ofVirtual().start(() -> {
          while (!stop.get()) {
            // Envoy serves the old clusters until the control plane's push, then the new ones.
            TestEnvoy envoy = envoyUpdated.get() ? after : before;
            var r = envoy.send(ExchangeRequest.post("/v1/chat/completions", CHAT, "authorization", "Bearer sk-team"));
            if (r.status() / 100 != 2) {
              bad.add(r.status() + " " + r.bodyText());
            } else {
              served.incrementAndGet();
            }
          }
        })).toList();
        Thread.sleep(300);
        // 1. The control plane reloads first and pushes: Envoy sends attempts to new-backend, which
        //    ext-proc-server has not loaded yet (its file watch has not fired).
        // Written whole (as a Kubernetes ConfigMap update is), so no reader sees half a file.
        Path next = dir.resolve("gateway.yaml.next");
        Files.writeString(next, v2);
        Files.move(next, file, java.nio.file.StandardCopyOption.ATOMIC_MOVE,
            java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        envoyUpdated.set(true);
        Thread.sleep(300);
        // 2. Some Envoys are still on the old clusters after ext-proc-server has switched.
        envoyUpdated.set(false);
        assertEquals(null, server.reload("test"));
        Thread.sleep(300);
        envoyUpdated.set(true);
        Thread.sleep(200);
        stop.set(true);
        for (Thread t : traffic) {
          t.join();
        }
        assertTrue(bad.isEmpty(), "non-2xx answers during the change: " + bad.stream().limit(3).toList());
        assertTrue(served.get() > 10, "traffic flowed: " + served.get());
        assertTrue(!a.received().isEmpty() && !b.received().isEmpty(), "both backends served during the change");
      }
    }
  }
}
