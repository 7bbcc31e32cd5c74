package dev.weir.extproc;

import dev.weir.config.ApiKeys;
import dev.weir.config.CommandLine;
import dev.weir.config.ConfigException;
import dev.weir.config.ConfigLoader;
import dev.weir.config.Credentials;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.admin.AdminHttp;
import dev.weir.extproc.cache.CachedAnswer;
import dev.weir.tls.MutualTls;
import dev.weir.extproc.routing.RoutingTable;
import dev.weir.extproc.telemetry.GatewayMetrics;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The ext-proc-server process: gRPC ext_proc service plus admin HTTP, with graceful drain. */
public final class ExtProcServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ExtProcServer.class);
  /** Headroom over the largest body for the rest of a ProcessingRequest (headers, attributes). */
  private static final int MESSAGE_OVERHEAD_BYTES = 256 * 1024;
  /**
   * The largest body Envoy may buffer and send (its listener's per_connection_buffer_limit_bytes,
   * 5 MiB in envoy/envoy.yaml). The gRPC limit covers it even when maxRequestBytes is smaller, so
   * a body between the two is answered 413 by the router pass instead of failing the gRPC stream
   * (which Envoy turns into a 500).
   */
  static final int ENVOY_BUFFER_CEILING_BYTES = 32 * 1024 * 1024;

  private volatile GatewayRuntime runtime;
  /** Usage events, recent events and chargeback totals; kept across reloads where it can be. */
  private volatile dev.weir.extproc.telemetry.Telemetry telemetry;
  private final GatewayMetrics metrics;
  private final java.util.function.Function<String, String> env;
  private final Path configFile;
  private final dev.weir.config.ConfigWatcher watcher;
  private volatile String lastReload = "none yet";
  /** The config file's text as last loaded (or refused), to tell whether it changed since. */
  private String loadedText;
  private long lastCatchUpNanos = System.nanoTime() - 2_000_000_000L;
  private final ExternalProcessorService service;
  private final Server grpc;
  private final AdminHttp admin;
  private final dev.weir.extproc.console.ConsoleSampler sampler;
  private final dev.weir.extproc.telemetry.LimitGauges limitGauges;
  private final MutualTls tls;
  private volatile boolean draining;

  /**
   * Starts both ports. Port 0 picks a free port (tests); otherwise the config's ports are used.
   */
  public ExtProcServer(GatewayConfig config, Function<String, String> env, String bindHost,
      int grpcPort, int adminPort) throws IOException, Credentials.UnresolvableCredentialException {
    this(config, env, bindHost, grpcPort, adminPort, null, false, false);
  }

  /**
   * @param configFile where {@code config} came from, for reloads (null: no reloading)
   * @param watch reload when the file changes
   * @param insecureBind serve gRPC without TLS on an address other than loopback (refused
   *     otherwise: anyone who can open a stream there could ask for backend keys)
   */
  public ExtProcServer(GatewayConfig config, Function<String, String> env, String bindHost,
      int grpcPort, int adminPort, Path configFile, boolean watch, boolean insecureBind)
      throws IOException, Credentials.UnresolvableCredentialException {
    boolean withTls = config.getSecurity().hasExtProcTls();
    if (!withTls && !MutualTls.isLoopback(bindHost)) {
      if (!insecureBind) {
        throw new IOException("refusing to serve ext_proc without TLS on " + bindHost + ": set"
            + " security.extProcTls (mTLS with Envoy), bind 127.0.0.1, or pass --insecure-bind");
      }
      log.warn("ext_proc gRPC on {} WITHOUT TLS (--insecure-bind): anyone who reaches this port can"
          + " obtain backend keys through the upstream pass; configure security.extProcTls", bindHost);
    } else if (!withTls) {
      log.info("no security.extProcTls configured: ext_proc gRPC serves plaintext on loopback ({}) only", bindHost);
    }
    this.metrics = new GatewayMetrics();
    this.env = env;
    this.configFile = configFile;
    this.loadedText = configFile == null ? null : java.nio.file.Files.readString(configFile);
    this.telemetry = dev.weir.extproc.telemetry.Telemetry.forConfig(config, metrics, null);
    this.runtime = new GatewayRuntime(config, env, metrics, GatewayRuntime.Stores.forConfig(config, null), null,
        this::catchUp, telemetry);
    this.service = new ExternalProcessorService(() -> runtime);
    try {
      this.tls = withTls ? MutualTls.server(config.getSecurity().getExtProcTls()) : null;
    } catch (java.security.GeneralSecurityException e) {
      throw new IOException("security.extProcTls: " + e.getMessage(), e);
    }
    InetSocketAddress grpcAddress = new InetSocketAddress(bindHost, grpcPort);
    NettyServerBuilder builder = tls == null ? NettyServerBuilder.forAddress(grpcAddress)
        : NettyServerBuilder.forAddress(grpcAddress, tls.credentials());
    this.grpc = builder
        .addService(ServerInterceptors.intercept(service, ExternalProcessorService.passInterceptor()))
        .maxInboundMessageSize(Math.max(config.getExtProc().getMaxRequestBytes(), ENVOY_BUFFER_CEILING_BYTES)
            + MESSAGE_OVERHEAD_BYTES)
        .permitKeepAliveTime(10, TimeUnit.SECONDS)
        .permitKeepAliveWithoutCalls(true)
        // Exchanges may wait on Redis; on virtual threads a wait parks no platform thread.
        .executor(java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor())
        .build()
        .start();
    this.sampler = new dev.weir.extproc.console.ConsoleSampler(metrics.registry(), true);
    this.limitGauges = new dev.weir.extproc.telemetry.LimitGauges(metrics.registry(), () -> runtime, true);
    AdminHttp adminHttp = new AdminHttp(bindHost, adminPort, this::adminToken)
        .probe("/healthz", () -> AdminHttp.Answer.text(200, "ok\n"))
        .probe("/readyz", () -> !draining && !grpc.isShutdown() ? AdminHttp.Answer.text(200, "ready\n")
            : AdminHttp.Answer.text(503, "not ready\n"))
        .probe("/metrics", () -> new AdminHttp.Answer(200, "text/plain; version=0.0.4; charset=utf-8", metrics.scrape()))
        .page("/status", () -> AdminHttp.Answer.text(200, "last reload: " + lastReload + "\n"))
        .data("/usage", params -> dev.weir.extproc.telemetry.ObservabilityPages.usage(() -> telemetry, params))
        .data("/events", params -> dev.weir.extproc.telemetry.ObservabilityPages.events(() -> telemetry, params))
        .action("/reload", request -> {
          if (configFile == null) {
            return AdminHttp.Answer.text(404, "this server was started without a config file\n");
          }
          String refused = reload("admin " + request.caller());
          return refused == null ? AdminHttp.Answer.text(200, "reloaded\n")
              : AdminHttp.Answer.text(400, "refused; the running config stays\n" + refused + "\n");
        })
        .action("/cache/flush", request -> {
          // The selected entries (all, or one consumer's and/or one model's), here, in Redis and
          // (through its pub/sub channel) in every other replica.
          var cache = runtime.stores().cache();
          if (cache == null) {
            return AdminHttp.Answer.text(404, "no response cache is configured\n");
          }
          CachedAnswer.Selector which;
          try {
            which = flushSelector(request.query(), runtime.config());
          } catch (IllegalArgumentException e) {
            return AdminHttp.Answer.text(400, e.getMessage() + "\n");
          }
          long dropped = cache.flush(which);
          log.info("response cache flushed by {} (consumer {}, model {}): {} entries", request.caller(),
              which.consumer() == null ? "any" : which.consumer(), which.model() == null ? "any" : which.model(), dropped);
          return AdminHttp.Answer.text(200, "flushed " + dropped + " entries\n");
        });
    this.admin = new dev.weir.extproc.console.ConsoleApi(() -> runtime, env, () -> adminToken() != null, sampler)
        .register(adminHttp)
        .start();
    // Credential files too: a rotated Kubernetes Secret changes them without touching the config.
    this.watcher = configFile != null && watch
        ? new dev.weir.config.ConfigWatcher(configFile, this::credentialFiles, () -> reload("file change")) : null;
  }

  /**
   * What {@code POST /cache/flush?consumer=NAME&model=NAME} selects: both parameters optional
   * (none: every entry), each naming a consumer or model of the running config.
   */
  static CachedAnswer.Selector flushSelector(String query, GatewayConfig config) {
    String consumer = null;
    String model = null;
    if (query != null && !query.isEmpty()) {
      for (String pair : query.split("&")) {
        int eq = pair.indexOf('=');
        String name = eq < 0 ? pair : pair.substring(0, eq);
        String value = eq < 0 ? "" : java.net.URLDecoder.decode(pair.substring(eq + 1), java.nio.charset.StandardCharsets.UTF_8);
        switch (name) {
          case "consumer" -> {
            if (config.getConsumersList().stream().noneMatch(c -> c.getName().equals(value))) {
              throw new IllegalArgumentException("no consumer named " + shown(value) + " is configured");
            }
            consumer = value;
          }
          case "model" -> {
            if (config.getModelsList().stream().noneMatch(m -> m.getName().equals(value))) {
              throw new IllegalArgumentException("no model named " + shown(value) + " is configured");
            }
            model = value;
          }
          default -> throw new IllegalArgumentException("unknown parameter " + shown(name)
              + "; /cache/flush takes consumer=NAME and model=NAME, both optional");
        }
      }
    }
    return new CachedAnswer.Selector(consumer, model);
  }

  /** A client-chosen name as an error message may echo it: short, printable, no markup. */
  private static String shown(String s) {
    String clean = s.replaceAll("[^A-Za-z0-9._:@/-]", "?");
    return "'" + (clean.length() > 64 ? clean.substring(0, 64) + "..." : clean) + "'";
  }

  /**
   * Re-reads the config file and switches new exchanges to it; exchanges in flight finish on the
   * config they started with. Returns null when switched, else why it was refused (nothing
   * changes). Ports, bind address and body limits of the gRPC server need a restart.
   */
  public synchronized String reload(String cause) {
    GatewayConfig next;
    try {
      loadedText = java.nio.file.Files.readString(configFile);
    } catch (IOException e) {
      loadedText = null;
    }
    try {
      next = new ConfigLoader(env, true).load(configFile);
    } catch (ConfigException e) {
      lastReload = "refused (" + cause + "): " + e.getMessage();
      log.warn("config change refused ({}); the running config stays: {}", cause, e.getMessage());
      return e.getMessage();
    }
    GatewayRuntime previous = runtime;
    dev.weir.extproc.telemetry.Telemetry previousTelemetry = telemetry;
    dev.weir.extproc.telemetry.Telemetry nextTelemetry = dev.weir.extproc.telemetry.Telemetry.forConfig(next, metrics,
        previousTelemetry);
    try {
      runtime = new GatewayRuntime(next, env, metrics, GatewayRuntime.Stores.forConfig(next, previous.stores()),
          previous, this::catchUp, nextTelemetry);
      telemetry = nextTelemetry;
      if (nextTelemetry != previousTelemetry) {
        RETIRE.schedule(() -> previousTelemetry.retire(nextTelemetry), 10, TimeUnit.MINUTES);
      }
    } catch (Credentials.UnresolvableCredentialException | dev.weir.extproc.mcp.RestTools.InvalidApi e) {
      // Close only what the new telemetry opened: the rest is still the running one's.
      nextTelemetry.retire(previousTelemetry);
      lastReload = "refused (" + cause + "): " + e.getMessage();
      log.warn("config change refused ({}): {}", cause, e.getMessage());
      return e.getMessage();
    }
    if (runtime.stores() != previous.stores()) {
      // Exchanges in flight may still settle on the old store; close it once they are done.
      RETIRE.schedule(previous::close, 10, TimeUnit.MINUTES);
    }
    if (next.getExtProc().getGrpcPort() != previous.config().getExtProc().getGrpcPort()
        || next.getExtProc().getAdminPort() != previous.config().getExtProc().getAdminPort()
        || next.getExtProc().getMaxRequestBytes() != previous.config().getExtProc().getMaxRequestBytes()) {
      log.warn("extProc ports and maxRequestBytes take effect at the next restart");
    }
    lastReload = "applied (" + cause + ") at " + java.time.Instant.now();
    log.info("config reloaded ({}): {} models, {} consumers, {} limits", cause, next.getModelsCount(),
        next.getConsumersCount(), next.getLimitsCount());
    return null;
  }

  /**
   * Called when an upstream attempt names a backend or pool member this server does not know:
   * the control plane may have pushed a config this server has not loaded yet (its file watch
   * fires a moment later). Reloads at once if the file changed (looking at most ten times a second), and returns
   * the routing then in force, so that attempt is translated instead of failing with a 500.
   */
  private RoutingTable catchUp() {
    if (configFile == null) {
      return null;
    }
    synchronized (this) {
      long now = System.nanoTime();
      if (now - lastCatchUpNanos > 100_000_000L) {
        lastCatchUpNanos = now;
        try {
          String text = java.nio.file.Files.readString(configFile);
          if (!text.equals(loadedText)) {
            reload("routing lookup of a backend this config does not name");
          }
        } catch (IOException e) {
          log.warn("cannot re-read {} to catch up: {}", configFile, e.getMessage());
        }
      }
      return runtime.routing();
    }
  }

  /** The backend credential files the config in force names (read at load, so a change needs a reload). */
  private java.util.List<Path> credentialFiles() {
    GatewayRuntime current = runtime;
    if (current == null) {
      return java.util.List.of();
    }
    return current.config().getBackendsList().stream().filter(b -> b.getCredential().hasFile())
        .map(b -> Path.of(b.getCredential().getFile())).distinct().toList();
  }

  /** The admin token of the config in force; null when none is set or it cannot be read. */
  private String adminToken() {
    var security = runtime.config().getSecurity();
    if (!security.hasAdminToken()) {
      return null;
    }
    try {
      return Credentials.resolve(security.getAdminToken(), env);
    } catch (Credentials.UnresolvableCredentialException e) {
      log.warn("security.adminToken cannot be read ({}); admin actions are refused", e.getMessage());
      return null;
    }
  }

  private static final java.util.concurrent.ScheduledExecutorService RETIRE =
      java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "weir-retire");
        t.setDaemon(true);
        return t;
      });

  public int grpcPort() {
    return grpc.getPort();
  }

  public int adminPort() {
    return admin.port();
  }

  public GatewayRuntime runtime() {
    return runtime;
  }

  /**
   * Stops taking new streams, waits up to the drain time for in-flight exchanges to finish, then
   * cancels what is left. Readiness turns false first so load balancers stop sending.
   */
  @Override
  public void close() {
    draining = true;
    if (watcher != null) {
      watcher.close();
    }
    grpc.shutdown();
    int drainSeconds = runtime.config().getExtProc().getDrainSeconds();
    try {
      if (!grpc.awaitTermination(drainSeconds, TimeUnit.SECONDS)) {
        log.warn("{} exchanges still open after {}s drain; cancelling them", service.inFlight(), drainSeconds);
        grpc.shutdownNow();
        grpc.awaitTermination(5, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      grpc.shutdownNow();
      Thread.currentThread().interrupt();
    }
    admin.close();
    sampler.close();
    limitGauges.close();
    if (tls != null) {
      tls.close();
    }
    runtime.close();
    telemetry.close();
  }

  public static void main(String[] args) {
    System.exit(run(args, System.out, System.err));
  }

  static final String USAGE = """
      Usage: java -jar ext-proc-server.jar --config FILE [options]
             java -jar ext-proc-server.jar --hash-key KEY
             java -jar ext-proc-server.jar --new-key
             java -jar ext-proc-server.jar --check --config FILE
             java -jar ext-proc-server.jar --explain --config FILE --consumer NAME --model NAME
             java -jar ext-proc-server.jar usage --config FILE [--from DAY] [--to DAY] [--group-by LIST] [--format csv]

      Weir's Envoy external processing (ext_proc) server: authenticates consumers, validates
      OpenAI-style requests, routes models to pools and translates each attempt for its backend.

      Options:
        --config FILE      the gateway config (YAML); required to run
        --bind HOST        address for both ports (default 127.0.0.1, or 0.0.0.0 with
                           security.extProcTls set); another address without TLS needs --insecure-bind
        --insecure-bind    allow --bind on a non-loopback address without mTLS (logs a warning)
        --grpc-port N      ext_proc gRPC port (default: extProc.grpcPort, else 50051)
        --admin-port N     admin HTTP port: /healthz /readyz /metrics /usage /events (default: extProc.adminPort,
                           else 9464)
        --check            load and validate the config, print the result, exit
        --explain          print the stages, limits (by level) and backends that apply to
                           --consumer NAME calling --model NAME, and exit
        --no-watch         do not reload when the config file changes (POST /reload still does)
        --hash-key KEY     print the sha256:... form of a consumer API key for the config
        --new-key          print a new random consumer API key and its sha256:... form
        --help             show this text
      """;

  /** Runs the CLI; returns the exit code (0 ok, 2 usage, 1 failure). Blocks while serving. */
  static int run(String[] args, PrintStream out, PrintStream err) {
    if (args.length > 0 && args[0].equals("usage")) {
      return dev.weir.extproc.usage.UsageCommand.run(java.util.Arrays.copyOfRange(args, 1, args.length), System::getenv,
          out, err);
    }
    String config;
    String bind;
    Integer grpcPort;
    Integer adminPort;
    boolean check;
    String[] explain;
    boolean watch;
    boolean insecureBind;
    try {
      CommandLine cli = CommandLine.parse(args,
          Set.of("--config", "--bind", "--grpc-port", "--admin-port", "--hash-key", "--consumer", "--model"),
          Set.of("--check", "--explain", "--no-watch", "--insecure-bind", "--new-key", "--help", "-h"));
      if (cli.has("--help") || cli.has("-h")) {
        out.print(USAGE);
        return 0;
      }
      if (cli.has("--new-key")) {
        String key = ApiKeys.newKey();
        out.println("key:  " + key);
        out.println("hash: " + ApiKeys.hash(key));
        return 0;
      }
      if (cli.get("--hash-key") != null) {
        out.println(ApiKeys.hash(cli.get("--hash-key")));
        return 0;
      }
      config = cli.required("--config", "FILE");
      bind = cli.get("--bind");
      insecureBind = cli.has("--insecure-bind");
      grpcPort = cli.port("--grpc-port");
      adminPort = cli.port("--admin-port");
      check = cli.has("--check");
      explain = cli.has("--explain") ? new String[] {cli.required("--consumer", "NAME"), cli.required("--model", "NAME")} : null;
      watch = !cli.has("--no-watch");
    } catch (CommandLine.UsageException e) {
      err.println(e.getMessage() + "\n");
      err.print(USAGE);
      return 2;
    }
    GatewayConfig loaded;
    try {
      loaded = ConfigLoader.forExtProc().load(Path.of(config));
    } catch (ConfigException e) {
      err.println("config refused: " + e.getMessage());
      return 1;
    }
    if (explain != null) {
      try {
        out.print(dev.weir.extproc.policy.Explain.explain(loaded, dev.weir.extproc.pipeline.Pipeline.standard(),
            explain[0], explain[1]));
        return 0;
      } catch (IllegalArgumentException e) {
        err.println(e.getMessage());
        return 1;
      }
    }
    if (check) {
      out.println(config + ": ok (" + loaded.getBackendsCount() + " backends, " + loaded.getPoolsCount()
          + " pools, " + loaded.getModelsCount() + " models, " + loaded.getConsumersCount() + " consumers)");
      return 0;
    }
    if (bind == null) {
      bind = loaded.getSecurity().hasExtProcTls() ? "0.0.0.0" : "127.0.0.1";
    }
    int gp = grpcPort != null ? grpcPort : loaded.getExtProc().getGrpcPort();
    int ap = adminPort != null ? adminPort : loaded.getExtProc().getAdminPort();
    ExtProcServer server;
    try {
      server = new ExtProcServer(loaded, System::getenv, bind, gp, ap, Path.of(config), watch, insecureBind);
    } catch (IOException | Credentials.UnresolvableCredentialException e) {
      err.println("cannot start: " + e.getMessage());
      return 1;
    }
    log.info("ext-proc-server ready: ext_proc gRPC on {}:{} ({}), admin on {}:{} ({} models, {} consumers)",
        bind, server.grpcPort(), server.tls != null ? "mTLS" : "plaintext", bind, server.adminPort(),
        loaded.getModelsCount(), loaded.getConsumersCount());
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      log.info("shutting down: draining in-flight exchanges");
      server.close();
      log.info("stopped");
    }, "weir-shutdown"));
    try {
      server.grpc.awaitTermination();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    return 0;
  }
}
