package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.weir.config.ApiKeys;
import dev.weir.config.ConfigLoader;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.testkit.ExchangeRequest;
import dev.weir.testkit.ScriptedUpstream;
import dev.weir.testkit.TestEnvoy;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ext-proc-server in a pod: the gateway config comes from a ConfigMap volume and a backend key
 * from a Secret volume, both updated by kubelet's symlink swap (pkg/volume/util/atomic_writer.go
 * in Kubernetes). A rotated key reaches the backend without a restart or a config change.
 */
class KubernetesVolumeReloadTest {
  private static int generation;

  /** Lays out or updates a volume the way kubelet does: new folder, ..data renamed over the old. */
  static void project(Path volume, String name, String content) throws IOException {
    Files.createDirectories(volume);
    Path folder = volume.resolve("..2026_11_26_14_00_00." + (++generation));
    Files.createDirectory(folder);
    Files.writeString(folder.resolve(name), content);
    Path data = volume.resolve("..data");
    Path old = Files.isSymbolicLink(data) ? volume.resolve(Files.readSymbolicLink(data)) : null;
    Files.createSymbolicLink(volume.resolve("..data_tmp"), folder.getFileName());
    Files.move(volume.resolve("..data_tmp"), data, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    if (!Files.isSymbolicLink(volume.resolve(name))) {
      Files.createSymbolicLink(volume.resolve(name), Path.of("..data", name));
    }
    if (old != null) {
      Files.delete(old.resolve(name));
      Files.delete(old);
    }
  }

  @Test
  void aRotatedSecretKeyIsInjectedWithoutARestart(@TempDir Path pod) throws Exception {
    try (ScriptedUpstream up = new ScriptedUpstream("provider")) {
      Path secrets = pod.resolve("etc/weir/secrets");
      project(secrets, "openai", "sk-provider-old\n");
      Path config = pod.resolve("etc/weir/config");
      project(config, "gateway.yaml", """
          backends: [ { name: openai, provider: openai-compatible, url: "%s", credential: { file: %s } } ]
          pools: [ { name: p, members: [ { backend: openai } ] } ]
          models: [ { name: m, pool: p } ]
          consumers: [ { name: a, keys: [ "%s" ], models: [ "*" ] } ]
          """.formatted(up.url(), secrets.resolve("openai"), ApiKeys.hash("sk-a")));
      Path file = config.resolve("gateway.yaml");
      GatewayConfig loaded = new ConfigLoader(Map.<String, String>of()::get, true).load(file);
      try (ExtProcServer server = new ExtProcServer(loaded, Map.<String, String>of()::get, "127.0.0.1", 0, 0, file, true, false);
          TestEnvoy envoy = Gateway.envoy(loaded, server.grpcPort())) {
        assertEquals(200, chat(envoy));
        assertEquals("Bearer sk-provider-old", up.last().header("authorization"));

        project(secrets, "openai", "sk-provider-new\n");
        String sent = "";
        for (int i = 0; i < 100 && !sent.equals("Bearer sk-provider-new"); i++) {
          Thread.sleep(50);
          assertEquals(200, chat(envoy));
          sent = up.last().header("authorization");
        }
        assertEquals("Bearer sk-provider-new", sent, "the rotated key is used without a restart");
      }
    }
  }

  private static int chat(TestEnvoy envoy) {
    return envoy.send(ExchangeRequest.post("/v1/chat/completions",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", "authorization", "Bearer sk-a")).status();
  }
}
