package dev.weir.extproc.usage;

import dev.weir.config.CommandLine;
import dev.weir.config.ConfigException;
import dev.weir.config.ConfigLoader;
import dev.weir.config.Credentials;
import dev.weir.config.v1.GatewayConfig;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;
import java.util.function.Function;

/**
 * {@code ext-proc-server usage}: the chargeback report of a running gateway, for finance exports.
 * It asks the admin port's {@code GET /usage} (so in-process and Redis totals read alike), with the
 * admin token from the config when one is set.
 */
public final class UsageCommand {
  static final String USAGE = """
      Usage: java -jar ext-proc-server.jar usage --config FILE [--from YYYY-MM-DD] [--to YYYY-MM-DD]
                 [--group-by consumer,model,day] [--format json|csv] [--admin-url URL]

      Prints usage per consumer, model and/or day (requests, tokens, cost, cached savings) from
      the running ext-proc-server's admin port (GET /usage). With Redis configured the totals are
      every replica's; without it, the replica asked.

      Options:
        --config FILE      the gateway config: the admin port and token are read from it
        --from, --to       first and last day (UTC), both included; default today
        --group-by LIST    comma list of consumer, model, day (default consumer,model)
        --format FORMAT    json (default) or csv
        --admin-url URL    the admin port to ask (default http://127.0.0.1:<extProc.adminPort>)
      """;

  private UsageCommand() {}

  /** Runs the command; returns the exit code (0 ok, 2 usage, 1 failure). */
  public static int run(String[] args, Function<String, String> env, PrintStream out, PrintStream err) {
    CommandLine cli;
    try {
      cli = CommandLine.parse(args, Set.of("--config", "--from", "--to", "--group-by", "--format", "--admin-url"),
          Set.of("--help", "-h"));
      if (cli.has("--help") || cli.has("-h")) {
        out.print(USAGE);
        return 0;
      }
      cli.required("--config", "FILE");
    } catch (CommandLine.UsageException e) {
      err.println(e.getMessage() + "\n");
      err.print(USAGE);
      return 2;
    }
    GatewayConfig config;
    try {
      config = new ConfigLoader(env, false).load(Path.of(cli.get("--config")));
    } catch (ConfigException e) {
      err.println("config refused: " + e.getMessage());
      return 1;
    }
    String base = cli.get("--admin-url", "http://127.0.0.1:" + config.getExtProc().getAdminPort());
    StringBuilder query = new StringBuilder("/usage?");
    param(query, "from", cli.get("--from"));
    param(query, "to", cli.get("--to"));
    param(query, "groupBy", cli.get("--group-by"));
    param(query, "format", cli.get("--format"));
    HttpRequest.Builder request;
    try {
      request = HttpRequest.newBuilder(URI.create(stripSlash(base) + query)).timeout(Duration.ofSeconds(30));
    } catch (IllegalArgumentException e) {
      err.println("--admin-url: not a URL: " + base);
      return 2;
    }
    if (config.getSecurity().hasAdminToken()) {
      try {
        request.header("Authorization", "Bearer " + Credentials.resolve(config.getSecurity().getAdminToken(), env));
      } catch (Credentials.UnresolvableCredentialException e) {
        err.println("security.adminToken: " + e.getMessage());
        return 1;
      }
    }
    try {
      HttpResponse<String> r = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build()
          .send(request.build(), HttpResponse.BodyHandlers.ofString());
      if (r.statusCode() != 200) {
        err.print(base + " answered " + r.statusCode() + ": " + r.body());
        return 1;
      }
      out.print(r.body());
      return 0;
    } catch (IOException e) {
      err.println("cannot reach the admin port at " + base + ": " + e.getMessage());
      return 1;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return 1;
    }
  }

  private static void param(StringBuilder query, String name, String value) {
    if (value != null) {
      if (query.charAt(query.length() - 1) != '?') {
        query.append('&');
      }
      query.append(name).append('=').append(URLEncoder.encode(value, StandardCharsets.UTF_8));
    }
  }

  private static String stripSlash(String url) {
    return url.endsWith("/") ? url.substring(0, url.length() - 1) : url;
  }
}
