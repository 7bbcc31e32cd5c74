package dev.weir.config;

import java.io.IOException;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * Watches the config file's folder and calls back when the file's content changes, or the content
 * of another file the config names (credential files: a rotated Kubernetes Secret). It watches
 * folders, not files, and compares content hashes because editors and Kubernetes ConfigMaps and
 * Secrets replace files by rename or symlink swap (kubelet writes a new timestamped folder and
 * renames a ..data symlink over the old one: pkg/volume/util/atomic_writer.go in Kubernetes), and
 * one save can raise several events. A short quiet period collapses a burst of events into one
 * reload. Runs on one daemon thread.
 */
public final class ConfigWatcher implements AutoCloseable {
  static final long QUIET_MILLIS = 50;

  private final Path file;
  private final Supplier<List<Path>> alsoWatched;
  private final Runnable onChange;
  private final WatchService watch;
  private final Set<Path> folders = new HashSet<>();
  private final Thread thread;
  private byte[] lastHash;

  public ConfigWatcher(Path file, Runnable onChange) throws IOException {
    this(file, List::of, onChange);
  }

  /**
   * @param alsoWatched the other files whose change should also call back (asked again after
   *     each callback, since a reloaded config may name other files)
   */
  public ConfigWatcher(Path file, Supplier<List<Path>> alsoWatched, Runnable onChange) throws IOException {
    this.file = file.toAbsolutePath();
    this.alsoWatched = alsoWatched;
    this.onChange = onChange;
    this.watch = FileSystems.getDefault().newWatchService();
    register(this.file);
    registerAlsoWatched();
    this.lastHash = hash();
    this.thread = Thread.ofPlatform().daemon().name("weir-config-watch").start(this::run);
  }

  private void register(Path watched) throws IOException {
    // The folder as named (its ..data entry changes), never a resolved symlink target, which
    // kubelet deletes after each swap.
    Path folder = watched.toAbsolutePath().getParent();
    if (folder != null && folders.add(folder)) {
      folder.register(watch, StandardWatchEventKinds.ENTRY_CREATE,
          StandardWatchEventKinds.ENTRY_MODIFY, StandardWatchEventKinds.ENTRY_DELETE);
    }
  }

  private void registerAlsoWatched() {
    for (Path p : alsoWatched.get()) {
      try {
        register(p);
      } catch (IOException e) {
        // A missing folder: the config's own check reports the missing file.
        System.getLogger(ConfigWatcher.class.getName()).log(System.Logger.Level.WARNING,
            "cannot watch " + p.getParent() + ": " + e.getMessage());
      }
    }
  }

  private void run() {
    try {
      while (true) {
        WatchKey key = watch.take();
        // Collect the rest of a burst before looking at the file.
        WatchKey more;
        do {
          key.pollEvents();
          key.reset();
          more = watch.poll(QUIET_MILLIS, TimeUnit.MILLISECONDS);
          if (more != null) {
            key = more;
          }
        } while (more != null);
        byte[] now = hash();
        if (now != null && !Arrays.equals(now, lastHash)) {
          lastHash = now;
          List<Path> watchedBefore = alsoWatched.get();
          try {
            onChange.run();
          } catch (RuntimeException e) {
            // The callback reports its own refusals; a bug in it must not stop the watch.
            System.getLogger(ConfigWatcher.class.getName()).log(System.Logger.Level.ERROR, "config reload failed", e);
          }
          if (!alsoWatched.get().equals(watchedBefore)) {
            // The new config names other files: watch their folders and take them as the baseline.
            registerAlsoWatched();
            lastHash = hash();
          }
        }
      }
    } catch (InterruptedException | ClosedWatchServiceException e) {
      // closing
    }
  }

  private byte[] hash() {
    try {
      MessageDigest digest = MessageDigest.getInstance("SHA-256");
      digest.update(Files.readAllBytes(file));
      for (Path p : alsoWatched.get()) {
        digest.update(p.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
        try {
          digest.update(Files.readAllBytes(p));
        } catch (IOException e) {
          digest.update((byte) 0); // missing now; the config check says so at reload
        }
      }
      return digest.digest();
    } catch (IOException e) {
      return null; // mid-replace: the next event will read it
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  @Override
  public void close() {
    try {
      watch.close();
    } catch (IOException ignored) {
      // closing anyway
    }
    thread.interrupt();
  }
}
