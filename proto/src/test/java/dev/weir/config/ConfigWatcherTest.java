package dev.weir.config;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The config file watch against the way Kubernetes updates a mounted ConfigMap or Secret: the
 * file is a symlink through {@code ..data}, and an update writes a new timestamped folder, points
 * a {@code ..data_tmp} symlink at it, renames that over {@code ..data} and deletes the old folder
 * (kubelet's AtomicWriter, pkg/volume/util/atomic_writer.go). The file itself is never written.
 */
class ConfigWatcherTest {
  private static final AtomicInteger GENERATION = new AtomicInteger();

  /** Lays a folder out as kubelet does for a ConfigMap or Secret volume with these files. */
  static void project(Path volume, String name, String content) throws IOException {
    Files.createDirectories(volume);
    Path generation = volume.resolve("..2026_11_26_13_00_00." + GENERATION.incrementAndGet());
    Files.createDirectory(generation);
    Files.writeString(generation.resolve(name), content);
    Path data = volume.resolve("..data");
    Path old = Files.isSymbolicLink(data) ? volume.resolve(Files.readSymbolicLink(data)) : null;
    Path tmp = volume.resolve("..data_tmp");
    Files.createSymbolicLink(tmp, generation.getFileName());
    Files.move(tmp, data, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    Path user = volume.resolve(name);
    if (!Files.isSymbolicLink(user)) {
      Files.createSymbolicLink(user, Path.of("..data").resolve(name));
    }
    if (old != null) {
      Files.delete(old.resolve(name));
      Files.delete(old);
    }
  }

  @Test
  void reloadsWhenAConfigMapVolumeSwapsItsDataSymlink(@TempDir Path dir) throws Exception {
    Path volume = dir.resolve("config");
    project(volume, "gateway.yaml", "models: []\n");
    Path file = volume.resolve("gateway.yaml");
    LinkedBlockingQueue<String> seen = new LinkedBlockingQueue<>();
    try (ConfigWatcher watcher = new ConfigWatcher(file, () -> seen.add(read(file)))) {
      project(volume, "gateway.yaml", "models: [ { name: a, pool: p } ]\n");
      assertEquals("models: [ { name: a, pool: p } ]\n", seen.poll(10, TimeUnit.SECONDS));
      // The old generation folder is gone; the watch is on the volume folder, so it goes on.
      project(volume, "gateway.yaml", "models: [ { name: b, pool: p } ]\n");
      assertEquals("models: [ { name: b, pool: p } ]\n", seen.poll(10, TimeUnit.SECONDS));
    }
  }

  @Test
  void reloadsWhenARotatedSecretChangesACredentialFileTheConfigNames(@TempDir Path dir) throws Exception {
    Path config = dir.resolve("config");
    project(config, "gateway.yaml", "backends: []\n");
    Path secrets = dir.resolve("secrets");
    project(secrets, "openai", "sk-old\n");
    Path key = secrets.resolve("openai");
    LinkedBlockingQueue<String> seen = new LinkedBlockingQueue<>();
    try (ConfigWatcher watcher = new ConfigWatcher(config.resolve("gateway.yaml"), () -> List.of(key), () -> seen.add(read(key)))) {
      project(secrets, "openai", "sk-new\n");
      assertEquals("sk-new\n", seen.poll(10, TimeUnit.SECONDS));
    }
  }

  @Test
  void aSwapThatKeepsTheContentCallsNoReload(@TempDir Path dir) throws Exception {
    Path volume = dir.resolve("config");
    project(volume, "gateway.yaml", "models: []\n");
    Path file = volume.resolve("gateway.yaml");
    LinkedBlockingQueue<String> seen = new LinkedBlockingQueue<>();
    try (ConfigWatcher watcher = new ConfigWatcher(file, () -> seen.add(read(file)))) {
      // Kubelet may re-project an unchanged volume; that must not reload. Spaced apart so the
      // two swaps are not one burst: a reload for the first would be seen first, with old content.
      project(volume, "gateway.yaml", "models: []\n");
      Thread.sleep(500);
      project(volume, "gateway.yaml", "models: [ { name: a, pool: p } ]\n");
      assertEquals("models: [ { name: a, pool: p } ]\n", seen.poll(10, TimeUnit.SECONDS));
    }
  }

  private static String read(Path p) {
    try {
      return Files.readString(p);
    } catch (IOException e) {
      return "unreadable: " + e;
    }
  }
}
