package dev.weir.xds;

import dev.weir.admin.AdminHttp;
import dev.weir.config.ConfigWatcher;
import dev.weir.config.v1.GatewayConfig;
import java.io.IOException;
import java.nio.file.Path;
import java.util.function.Function;

/**
 * The xds-control-plane process: the ADS server, its admin port and the config file watch,
 * started and stopped together.
 */
public final class ControlPlaneServer implements AutoCloseable {
  private final AdsServer ads;
  private final AdminHttp admin;
  private final ConfigWatcher watcher;
  /** Ends breaker trips on time, whether or not ext-proc-server reports again. */
  private final java.util.concurrent.ScheduledExecutorService tripTimer =
      java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "weir-breaker-timer");
        t.setDaemon(true);
        return t;
      });

  /**
   * @param env resolves credentials: the control plane checks a config exactly as ext-proc-server
   *     does, so a change one refuses the other refuses too
   * @param watch reload when the config file changes
   * @param insecureBind allow a non-loopback bind without mTLS
   */
  public ControlPlaneServer(Path configFile, GatewayConfig config, Function<String, String> env, String bind,
      int adsPort, int adminPort, boolean watch, boolean insecureBind) throws IOException {
    this.ads = new AdsServer(configFile, config, env, bind, adsPort, insecureBind);
    try {
      this.admin = ControlPlaneAdmin.start(ads, env, bind, adminPort);
    } catch (IOException e) {
      ads.close();
      throw e;
    }
    this.watcher = watch ? new ConfigWatcher(configFile, () -> ads.reload("file change")) : null;
    tripTimer.scheduleWithFixedDelay(() -> {
      try {
        ads.trips().expire();
      } catch (RuntimeException e) {
        org.slf4j.LoggerFactory.getLogger(ControlPlaneServer.class).error("ending breaker trips failed", e);
      }
    }, 250, 250, java.util.concurrent.TimeUnit.MILLISECONDS);
  }

  public AdsServer ads() {
    return ads;
  }

  public String version() {
    return ads.version();
  }

  public int adsPort() {
    return ads.port();
  }

  public int adminPort() {
    return admin.port();
  }

  @Override
  public void close() {
    tripTimer.shutdownNow();
    if (watcher != null) {
      watcher.close();
    }
    admin.close();
    ads.close();
  }
}
