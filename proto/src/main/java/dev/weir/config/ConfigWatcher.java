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
import java.util.concurrent.TimeUnit;

/**
 * Watches the config file's folder and calls back when the file's content changes. It watches the
 * folder, not the file, and compares content hashes because editors and Kubernetes ConfigMaps
 * replace files by rename or symlink swap, and one save can raise several events. A short quiet
 * period collapses a burst of events into one reload. Runs on one daemon thread.
 */
public final class ConfigWatcher implements AutoCloseable {
  static final long QUIET_MILLIS = 50;

  private final Path file;
  private final Runnable onChange;
  private final WatchService watch;
  private final Thread thread;
  private byte[] lastHash;

  public ConfigWatcher(Path file, Runnable onChange) throws IOException {
    this.file = file.toAbsolutePath();
    this.onChange = onChange;
    this.lastHash = hash();
    this.watch = FileSystems.getDefault().newWatchService();
    this.file.getParent().register(watch, StandardWatchEventKinds.ENTRY_CREATE,
        StandardWatchEventKinds.ENTRY_MODIFY, StandardWatchEventKinds.ENTRY_DELETE);
    this.thread = Thread.ofPlatform().daemon().name("weir-config-watch").start(this::run);
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
          try {
            onChange.run();
          } catch (RuntimeException e) {
            // The callback reports its own refusals; a bug in it must not stop the watch.
            System.getLogger(ConfigWatcher.class.getName()).log(System.Logger.Level.ERROR, "config reload failed", e);
          }
        }
      }
    } catch (InterruptedException | ClosedWatchServiceException e) {
      // closing
    }
  }

  private byte[] hash() {
    try {
      return MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file));
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
