package dev.weir.bench;

import dev.weir.config.ConfigLoader;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.xds.ControlPlaneServer;
import dev.weir.xds.EnvoyResources;
import io.envoyproxy.controlplane.cache.v3.Snapshot;
import io.envoyproxy.envoy.config.core.v3.Node;
import io.envoyproxy.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpc;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryResponse;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.stub.StreamObserver;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Control-plane costs: building one snapshot (resources + java-control-plane Snapshot) for 10,
 * 1,000 and 10,000 endpoints, with the heap it holds; and the time from a config file change to
 * the new version arriving on an ADS stream. Usage: {@code java -cp benchmarks.jar dev.weir.bench.XdsBenchmark}.
 */
public final class XdsBenchmark {
  static final String CDS = "type.googleapis.com/envoy.config.cluster.v3.Cluster";

  public static void main(String[] args) throws Exception {
    System.out.printf("JVM %s, %d cores, max heap %d MiB%n", Runtime.version(),
        Runtime.getRuntime().availableProcessors(), Runtime.getRuntime().maxMemory() >> 20);
    System.out.println("| endpoints | pools | build median ms | build p90 ms | serialized KiB | retained heap MiB |");
    System.out.println("|---:|---:|---:|---:|---:|---:|");
    for (int endpoints : new int[] {10, 1_000, 10_000}) {
      buildCost(endpoints);
    }
    System.out.println();
    System.out.println("| endpoints | file changes | change→push median ms | p90 ms | max ms |");
    System.out.println("|---:|---:|---:|---:|---:|");
    for (int endpoints : new int[] {10, 1_000, 10_000}) {
      pushLatency(endpoints, endpoints >= 10_000 ? 10 : 30);
    }
  }

  /** A config with {@code endpoints} backends (DNS names) in pools of 10, one model per pool. */
  static String config(int endpoints, int weight) {
    StringBuilder y = new StringBuilder("backends:\n");
    for (int i = 0; i < endpoints; i++) {
      y.append("  - { name: b").append(i).append(", provider: openai-compatible, url: http://b").append(i)
          .append(".llm.internal:8000 }\n");
    }
    y.append("pools:\n");
    int pools = Math.max(1, endpoints / 10);
    for (int p = 0; p < pools; p++) {
      y.append("  - name: p").append(p).append("\n    members:\n");
      for (int i = p * 10; i < Math.min(endpoints, p * 10 + 10); i++) {
        y.append("      - { backend: b").append(i).append(", priority: ").append(i % 3)
            .append(", weight: ").append(i == 0 ? weight : 1).append(" }\n");
      }
    }
    y.append("models:\n");
    for (int p = 0; p < pools; p++) {
      y.append("  - { name: m").append(p).append(", pool: p").append(p).append(" }\n");
    }
    return y.toString();
  }

  static void buildCost(int endpoints) throws Exception {
    GatewayConfig config = new ConfigLoader(Map.<String, String>of()::get, false).parse(config(endpoints, 1), "b", null);
    int reps = endpoints >= 10_000 ? 30 : 200;
    for (int i = 0; i < reps / 2; i++) {
      snapshot(config, i); // warm-up
    }
    long[] nanos = new long[reps];
    Snapshot kept = null;
    for (int i = 0; i < reps; i++) {
      long t0 = System.nanoTime();
      kept = snapshot(config, i);
      nanos[i] = System.nanoTime() - t0;
    }
    Arrays.sort(nanos);
    EnvoyResources.Resources r = EnvoyResources.build(config);
    long bytes = r.clusters().stream().mapToLong(c -> c.getSerializedSize()).sum()
        + r.routes().stream().mapToLong(c -> c.getSerializedSize()).sum();
    // Retained heap of one snapshot: heap with N snapshots held minus heap without, divided by N.
    int held = endpoints >= 10_000 ? 5 : 20;
    long before = usedAfterGc();
    Snapshot[] hold = new Snapshot[held];
    for (int i = 0; i < held; i++) {
      hold[i] = snapshot(config, i);
    }
    long after = usedAfterGc();
    System.out.printf("| %,d | %,d | %.2f | %.2f | %,d | %.2f |%n", endpoints, config.getPoolsCount(),
        nanos[reps / 2] / 1e6, nanos[(int) (reps * 0.9)] / 1e6, bytes >> 10, (after - before) / (double) held / (1 << 20));
    if (hold[0] == null || kept == null) {
      throw new IllegalStateException("unreachable: keeps the snapshots alive until measured");
    }
  }

  static Snapshot snapshot(GatewayConfig config, int version) {
    EnvoyResources.Resources r = EnvoyResources.build(config);
    return Snapshot.create(r.clusters(), r.endpoints(), r.listeners(), r.routes(), List.of(), Integer.toString(version));
  }

  static long usedAfterGc() throws InterruptedException {
    for (int i = 0; i < 4; i++) {
      System.gc();
      Thread.sleep(50);
    }
    Runtime rt = Runtime.getRuntime();
    return rt.totalMemory() - rt.freeMemory();
  }

  static void pushLatency(int endpoints, int changes) throws Exception {
    Path dir = Files.createTempDirectory("weir-xds-bench");
    Path file = dir.resolve("gateway.yaml");
    Files.writeString(file, config(endpoints, 1));
    GatewayConfig config = new ConfigLoader(System::getenv, false).load(file);
    try (ControlPlaneServer server = new ControlPlaneServer(file, config, System::getenv, "127.0.0.1", 0, 0, true, false)) {
      ManagedChannel ch = ManagedChannelBuilder.forAddress("127.0.0.1", server.adsPort()).usePlaintext()
          .maxInboundMessageSize(256 << 20).build();
      LinkedBlockingQueue<DiscoveryResponse> responses = new LinkedBlockingQueue<>();
      StreamObserver<DiscoveryRequest> ads = AggregatedDiscoveryServiceGrpc.newStub(ch)
          .streamAggregatedResources(new StreamObserver<>() {
            public void onNext(DiscoveryResponse r) { responses.add(r); }
            public void onError(Throwable t) {} // the stream ends when the benchmark closes it
            public void onCompleted() {}
          });
      Node node = Node.newBuilder().setId("bench").setCluster("weir").build();
      ads.onNext(DiscoveryRequest.newBuilder().setNode(node).setTypeUrl(CDS).build());
      DiscoveryResponse first = responses.poll(30, TimeUnit.SECONDS);
      ads.onNext(DiscoveryRequest.newBuilder().setNode(node).setTypeUrl(CDS).setVersionInfo(first.getVersionInfo())
          .setResponseNonce(first.getNonce()).build());
      long[] millis = new long[changes];
      for (int i = 0; i < changes; i++) {
        long t0 = System.nanoTime();
        Files.writeString(file, config(endpoints, i + 2));
        DiscoveryResponse pushed = responses.poll(60, TimeUnit.SECONDS);
        if (pushed == null) {
          throw new IllegalStateException("no push after change " + i);
        }
        millis[i] = (System.nanoTime() - t0) / 1_000_000;
        ads.onNext(DiscoveryRequest.newBuilder().setNode(node).setTypeUrl(CDS).setVersionInfo(pushed.getVersionInfo())
            .setResponseNonce(pushed.getNonce()).build());
        Thread.sleep(100); // let the watcher settle before the next edit
      }
      Arrays.sort(millis);
      System.out.printf("| %,d | %d | %d | %d | %d |%n", endpoints, changes, millis[changes / 2],
          millis[(int) (changes * 0.9)], millis[changes - 1]);
      ads.onCompleted();
      ch.shutdownNow();
    }
  }
}
