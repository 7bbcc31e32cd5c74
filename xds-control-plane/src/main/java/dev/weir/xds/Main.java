package dev.weir.xds;

import dev.weir.config.CommandLine;
import dev.weir.config.ConfigException;
import dev.weir.config.ConfigLoader;
import dev.weir.config.v1.GatewayConfig;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The xds-control-plane command line: validates, prints or serves a gateway config. */
public final class Main {
  private static final Logger log = LoggerFactory.getLogger(Main.class);

  private Main() {}

  static final String USAGE = """
      Usage: java -jar xds-control-plane.jar --config FILE [options]
             java -jar xds-control-plane.jar --print --config FILE

      Weir's xDS control plane: serves the gateway config's listener, routes and clusters (one per
      pool, with priority failover and the upstream ext_proc filter) to Envoy over ADS, and
      reloads when the config file changes (a broken change is refused; the running one stays).

      Options:
        --config FILE     the gateway config (YAML); required
        --bind HOST       address for both ports (default 127.0.0.1, or 0.0.0.0 with
                          security.controlPlaneTls set); another address without TLS needs --insecure-bind
        --insecure-bind   allow --bind on a non-loopback address without mTLS (logs a warning)
        --ads-port N      ADS gRPC port (default: controlPlane.adsPort, else 18000)
        --admin-port N    admin HTTP port (default: controlPlane.adminPort, else 18001):
                            GET /healthz /version /status /resources /backends, POST /reload,
                            POST /backends/NAME/drain|undrain|unweight, POST /backends/NAME/weight?value=N,
                            POST /breaker/trip|recover|weight?pool=P&backend=B (reported by ext-proc-server)
                            (POSTs need "Authorization: Bearer <security.adminToken>")
        --no-watch        do not reload when the config file changes
        --print           print the Envoy resources the config produces, as JSON, and exit
        --help            show this text
      """;

  public static void main(String[] args) {
    System.exit(run(args, System.out, System.err));
  }

  static int run(String[] args, PrintStream out, PrintStream err) {
    String config;
    String bind;
    Integer adsPort;
    Integer adminPort;
    boolean print;
    boolean watch;
    boolean insecureBind;
    try {
      CommandLine cli = CommandLine.parse(args, Set.of("--config", "--bind", "--ads-port", "--admin-port"),
          Set.of("--print", "--no-watch", "--insecure-bind", "--help", "-h"));
      if (cli.has("--help") || cli.has("-h")) {
        out.print(USAGE);
        return 0;
      }
      config = cli.required("--config", "FILE");
      bind = cli.get("--bind");
      insecureBind = cli.has("--insecure-bind");
      adsPort = cli.port("--ads-port");
      adminPort = cli.port("--admin-port");
      print = cli.has("--print");
      watch = !cli.has("--no-watch");
    } catch (CommandLine.UsageException e) {
      err.println(e.getMessage() + "\n");
      err.print(USAGE);
      return 2;
    }
    GatewayConfig loaded;
    try {
      // --print shows what a config makes and serves nothing: it needs no credentials at hand.
      loaded = (print ? new ConfigLoader(System::getenv, false) : ConfigLoader.forControlPlane()).load(Path.of(config));
    } catch (ConfigException e) {
      err.println("config refused: " + e.getMessage());
      return 1;
    }
    if (print) {
      out.println(AdsServer.toJson("unpublished", EnvoyResources.build(loaded)));
      return 0;
    }
    if (bind == null) {
      bind = loaded.getSecurity().hasControlPlaneTls() ? "0.0.0.0" : "127.0.0.1";
    }
    ControlPlaneServer server;
    try {
      server = new ControlPlaneServer(Path.of(config), loaded, System::getenv, bind,
          adsPort != null ? adsPort : loaded.getControlPlane().getAdsPort(),
          adminPort != null ? adminPort : loaded.getControlPlane().getAdminPort(), watch, insecureBind);
    } catch (IOException e) {
      err.println("cannot start: " + e.getMessage());
      return 1;
    }
    log.info("xds-control-plane ready: ADS on {}:{}, admin on {}:{}", bind, server.adsPort(), bind, server.adminPort());
    Runtime.getRuntime().addShutdownHook(new Thread(server::close, "weir-xds-shutdown"));
    try {
      server.ads().awaitTermination();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    return 0;
  }
}
