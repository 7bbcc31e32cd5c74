package dev.weir.testkit;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * A real {@code redis-server} started by a test on a free loopback port: no persistence, its own
 * process, so it can be killed and restarted on the same port for fault tests.
 */
public final class RedisServerProcess implements AutoCloseable {
  private final int port;
  private final Path dir;
  private final java.util.List<String> extraArgs;
  private Process process;

  public RedisServerProcess() throws IOException {
    this(java.util.List.of());
  }

  /** With extra redis-server arguments, e.g. {@code --cluster-enabled yes}. */
  public RedisServerProcess(java.util.List<String> extraArgs) throws IOException {
    this.port = freePort();
    this.dir = Files.createTempDirectory("weir-redis");
    this.extraArgs = java.util.List.copyOf(extraArgs);
    start();
  }

  public static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  public Path dir() {
    return dir;
  }

  public int port() {
    return port;
  }

  public String uri() {
    return "redis://127.0.0.1:" + port;
  }

  /** Starts (or restarts) the server on its port and waits until it answers PING. */
  public synchronized void start() throws IOException {
    java.util.List<String> cmd = new java.util.ArrayList<>(java.util.List.of("redis-server", "--port",
        Integer.toString(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir.toString(),
        "--protected-mode", "no"));
    cmd.addAll(extraArgs);
    process = new ProcessBuilder(cmd)
        .redirectErrorStream(true).redirectOutput(dir.resolve("redis.log").toFile()).start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (System.nanoTime() < deadline) {
      if ("+PONG".equals(command("PING"))) {
        return;
      }
      try {
        Thread.sleep(20);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException(e);
      }
    }
    throw new IOException("redis-server did not start on port " + port + "; see " + dir.resolve("redis.log"));
  }

  /** Kills the server at once, as a crash would. */
  public synchronized void kill() throws InterruptedException {
    if (process != null) {
      process.destroyForcibly();
      process.waitFor(5, TimeUnit.SECONDS);
      process = null;
    }
  }

  /**
   * Starts {@code size} cluster-enabled servers and joins them into one Redis Cluster with
   * {@code redis-cli --cluster create} (Debian's redis-tools), returning once every node reports
   * {@code cluster_state:ok}. The caller closes the nodes.
   */
  public static java.util.List<RedisServerProcess> startCluster(int size) throws IOException, InterruptedException {
    java.util.List<RedisServerProcess> nodes = new java.util.ArrayList<>();
    try {
      for (int i = 0; i < size; i++) {
        nodes.add(new RedisServerProcess(java.util.List.of("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")));
      }
      java.util.List<String> create = new java.util.ArrayList<>(java.util.List.of("redis-cli", "--cluster", "create"));
      nodes.forEach(n -> create.add("127.0.0.1:" + n.port()));
      create.addAll(java.util.List.of("--cluster-replicas", "0", "--cluster-yes"));
      Process p = new ProcessBuilder(create).redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
        throw new IOException("redis-cli --cluster create failed: " + out);
      }
      for (int i = 0; i < 100 && !nodes.stream().allMatch(RedisServerProcess::clusterOk); i++) {
        Thread.sleep(100);
      }
      return nodes;
    } catch (IOException | InterruptedException | RuntimeException e) {
      for (RedisServerProcess n : nodes) {
        n.close();
      }
      throw e;
    }
  }

  private static boolean clusterOk(RedisServerProcess node) {
    try (Socket s = new Socket("127.0.0.1", node.port)) {
      s.setSoTimeout(1000);
      s.getOutputStream().write("CLUSTER INFO\r\n".getBytes(StandardCharsets.UTF_8));
      byte[] buf = new byte[4096];
      int len = s.getInputStream().read(buf);
      return new String(buf, 0, Math.max(0, len), StandardCharsets.UTF_8).contains("cluster_state:ok");
    } catch (IOException e) {
      return false;
    }
  }

  /** Sends one inline command and returns the first reply line (null when nothing answers). */
  public String command(String command) {
    try (Socket s = new Socket("127.0.0.1", port)) {
      s.setSoTimeout(1000);
      OutputStream out = s.getOutputStream();
      out.write((command + "\r\n").getBytes(StandardCharsets.UTF_8));
      out.flush();
      InputStream in = s.getInputStream();
      StringBuilder line = new StringBuilder();
      int c;
      while ((c = in.read()) >= 0 && c != '\r') {
        line.append((char) c);
      }
      return line.toString();
    } catch (IOException e) {
      return null;
    }
  }

  @Override
  public void close() throws InterruptedException {
    kill();
  }
}
