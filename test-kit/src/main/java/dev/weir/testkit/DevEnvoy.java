package dev.weir.testkit;

import com.sun.net.httpserver.HttpServer;
import io.envoyproxy.envoy.config.bootstrap.v3.Bootstrap;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * Stands in for Envoy on a machine without Envoy or Docker, for trying Weir locally: reads the
 * same bootstrap ({@code envoy/envoy.yaml}: listener port, router filter, where ext_proc and ADS
 * are), subscribes to xds-control-plane over ADS like Envoy does, and serves the listener with the
 * test-kit's Envoy emulator. Not a proxy for production: HTTP/1.1 only, no TLS to clients.
 */
public final class DevEnvoy {
  private static final java.util.concurrent.ScheduledExecutorService RETIRE =
      Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "dev-envoy-retire");
        t.setDaemon(true);
        return t;
      });

  private DevEnvoy() {}

  public static void main(String[] args) throws Exception {
    if (args.length > 0 && (args[0].equals("--help") || args[0].equals("-h"))) {
      System.out.println("Usage: java -cp test-kit.jar dev.weir.testkit.DevEnvoy [envoy/envoy.yaml]");
      return;
    }
    Path bootstrapFile = Path.of(args.length > 0 ? args[0] : "envoy/envoy.yaml");
    Bootstrap bootstrap = EnvoyYaml.bootstrap(bootstrapFile);
    var listener = bootstrap.getStaticResources().getListeners(0);
    HttpConnectionManager hcm = listener.getFilterChains(0).getFilters(0).getTypedConfig()
        .unpack(HttpConnectionManager.class);
    ExternalProcessor router = hcm.getHttpFilters(0).getTypedConfig().unpack(ExternalProcessor.class);
    var extProc = address(bootstrap, router.getGrpcService().getEnvoyGrpc().getClusterName());
    var xds = address(bootstrap, bootstrap.getDynamicResources().getAdsConfig().getGrpcServices(0)
        .getEnvoyGrpc().getClusterName());
    int port = listener.getAddress().getSocketAddress().getPortValue();

    CountDownLatch ready = new CountDownLatch(1);
    TestEnvoy[] current = new TestEnvoy[1];
    AdsSnapshot ads = new AdsSnapshot(xds.getAddress(), xds.getPortValue(), hcm.getRds().getRouteConfigName(),
        (clusters, endpoints, routes) -> {
          TestEnvoy.Builder b = TestEnvoy.builder().extProc(extProc.getAddress(), extProc.getPortValue())
              .routerFilter(router).routes(routes)
              .bufferLimitBytes(listener.getPerConnectionBufferLimitBytes().getValue())
              .resources(clusters, endpoints);
          TestEnvoy previous;
          synchronized (current) {
            previous = current[0];
            current[0] = b.build();
          }
          System.out.println("dev-envoy: applied " + clusters.size() + " clusters and route config "
              + routes.getName() + " from ADS");
          ready.countDown();
          if (previous != null) {
            // Exchanges already on the old configuration finish on it, as on Envoy; retire it later.
            RETIRE.schedule(previous::close, 10, TimeUnit.MINUTES);
          }
        });
    if (!ready.await(30, TimeUnit.SECONDS)) {
      System.err.println("dev-envoy: no clusters and routes from ADS at " + xds.getAddress() + ":" + xds.getPortValue()
          + " after 30 s; is xds-control-plane running?");
      ads.close();
      System.exit(1);
    }
    HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 128);
    server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
    server.createContext("/", ex -> {
      TestEnvoy envoy;
      synchronized (current) {
        envoy = current[0];
      }
      envoy.serve(ex);
    });
    server.start();
    System.out.println("dev-envoy: listening on http://127.0.0.1:" + port + " (ext_proc at " + extProc.getAddress()
        + ":" + extProc.getPortValue() + ")");
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      server.stop(0);
      ads.close();
    }));
    Thread.currentThread().join();
  }

  private static io.envoyproxy.envoy.config.core.v3.SocketAddress address(Bootstrap b, String cluster) {
    for (Cluster c : b.getStaticResources().getClustersList()) {
      if (c.getName().equals(cluster)) {
        return c.getLoadAssignment().getEndpoints(0).getLbEndpoints(0).getEndpoint().getAddress().getSocketAddress();
      }
    }
    throw new IllegalArgumentException("bootstrap has no static cluster " + cluster);
  }
}
