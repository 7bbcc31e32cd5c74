package dev.weir.xds;

import dev.weir.admin.AdminHttp;
import dev.weir.admin.AdminHttp.Answer;
import dev.weir.config.Credentials;
import java.io.IOException;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The control plane's admin port on the shared {@link AdminHttp}: version, status and resources
 * to read; reload and backend drain/weight overrides as audited, token-protected actions.
 */
final class ControlPlaneAdmin {
  private static final Logger log = LoggerFactory.getLogger(ControlPlaneAdmin.class);

  private ControlPlaneAdmin() {}

  static AdminHttp start(AdsServer ads, Function<String, String> env, String bind, int port) throws IOException {
    return new AdminHttp(bind, port, () -> adminToken(ads, env))
        .probe("/healthz", () -> Answer.text(200, "ok\n"))
        .page("/version", () -> Answer.text(200, ads.version() + "\n"))
        .page("/resources", () -> Answer.json(200, ads.dump()))
        .page("/backends", () -> Answer.json(200, backends(ads)))
        .page("/status", () -> Answer.text(200, "version " + ads.version() + "\nlast reload: " + ads.lastReload()
            + "\ngroups: " + ads.groups() + "\ndrained: " + ads.overrides().drainedBackends()
            + "\nweights: " + ads.overrides().weights() + "\ncapacity weights: " + ads.overrides().capacityWeights()
            + "\nbreaker:\n" + ads.trips().describe()))
        .action("/reload", request -> {
          String refused = ads.reload("admin " + request.caller());
          return refused == null ? Answer.text(200, "reloaded: version " + ads.version() + "\n")
              : Answer.text(400, "refused; version " + ads.version() + " stays\n" + refused + "\n");
        })
        .action("/backends/", request -> backendAction(ads, request))
        .action("/breaker/", request -> breakerAction(ads, request))
        .start();
  }

  /**
   * Every configured backend with its drain and weight overrides, as JSON: what the console shows
   * next to each pool member ({"version", "backends": [{"name", "drained", "weight"}]}; weight is
   * present only when overridden).
   */
  static String backends(AdsServer ads) {
    BackendOverrides overrides = ads.overrides();
    StringBuilder out = new StringBuilder("{\"version\":").append(quote(ads.version())).append(",\"backends\":[");
    var backends = ads.config().getBackendsList();
    for (int i = 0; i < backends.size(); i++) {
      String name = backends.get(i).getName();
      out.append(i > 0 ? "," : "").append("{\"name\":").append(quote(name))
          .append(",\"drained\":").append(overrides.drained(name));
      Integer weight = overrides.weights().get(name);
      if (weight != null) {
        out.append(",\"weight\":").append(weight);
      }
      out.append('}');
    }
    return out.append("]}").toString();
  }

  /** A JSON string literal. */
  static String quote(String s) {
    StringBuilder b = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      if (c == '"' || c == '\\') {
        b.append('\\').append(c);
      } else if (c < 0x20) {
        b.append(String.format("\\u%04x", (int) c));
      } else {
        b.append(c);
      }
    }
    return b.append('"').toString();
  }

  private static String adminToken(AdsServer ads, Function<String, String> env) {
    var security = ads.config().getSecurity();
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

  /**
   * POST /breaker/trip?pool=P&amp;backend=B&amp;millis=N (or seconds=N)&amp;reason=R, /breaker/recover?pool=P&amp;backend=B,
   * /breaker/weight?pool=P&amp;backend=B&amp;value=N: what ext-proc-server reports (token-protected and
   * audited like every action).
   */
  private static Answer breakerAction(AdsServer ads, AdminHttp.ActionRequest request) {
    java.util.Map<String, String> q = query(request.query());
    String pool = q.getOrDefault("pool", "");
    String backend = q.getOrDefault("backend", "");
    boolean member = ads.config().getPoolsList().stream().filter(p -> p.getName().equals(pool))
        .flatMap(p -> p.getMembersList().stream()).anyMatch(m -> m.getBackend().equals(backend));
    if (!member) {
      return Answer.text(404, "no member \"" + backend + "\" in a pool named \"" + pool + "\"\n");
    }
    String action = request.path().substring("/breaker/".length());
    switch (action) {
      case "trip" -> {
        // millis (ext-proc-server sends it: PTUs name sub-second waits), else whole seconds.
        long millis = q.containsKey("millis") ? number(q.get("millis"), 1, 86_400_000)
            : number(q.get("seconds"), 1, 86_400) * 1000;
        if (millis < 0) {
          return Answer.text(400, "trip needs millis=N (1 to 86400000) or seconds=N (1 to 86400)\n");
        }
        // The reason is free text from an authenticated caller; keep it short and printable.
        String reason = q.getOrDefault("reason", "").replaceAll("[^A-Za-z0-9 ,.:_=-]", "");
        reason = reason.substring(0, Math.min(80, reason.length()));
        boolean changed = ads.trips().tripMillis(pool, backend, millis, reason, request.caller());
        return Answer.text(200, (changed ? "tripped " : "trip extended ") + pool + "/" + backend + ": version "
            + ads.version() + "\n");
      }
      case "recover" -> {
        boolean was = ads.trips().recover(pool, backend, request.caller());
        return Answer.text(200, (was ? "recovered " : "not tripped: ") + pool + "/" + backend + "\n");
      }
      case "weight" -> {
        long weight = number(q.get("value"), 1, 128);
        if (weight < 0) {
          return Answer.text(400, "weight needs value=N with N from 1 to 128\n");
        }
        ads.trips().weight(pool, backend, (int) weight);
        return Answer.text(200, "capacity weight " + pool + "/" + backend + "=" + weight + "\n");
      }
      default -> {
        return Answer.text(404, "use POST /breaker/trip|recover|weight?pool=P&backend=B\n");
      }
    }
  }

  private static long number(String value, long min, long max) {
    try {
      long n = Long.parseLong(value == null ? "" : value);
      return n < min || n > max ? -1 : n;
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  private static java.util.Map<String, String> query(String query) {
    java.util.Map<String, String> out = new java.util.HashMap<>();
    if (query == null) {
      return out;
    }
    for (String part : query.split("&")) {
      int eq = part.indexOf('=');
      if (eq > 0) {
        out.put(java.net.URLDecoder.decode(part.substring(0, eq), java.nio.charset.StandardCharsets.UTF_8),
            java.net.URLDecoder.decode(part.substring(eq + 1), java.nio.charset.StandardCharsets.UTF_8));
      }
    }
    return out;
  }

  /** POST /backends/{name}/drain | undrain | weight?value=N | unweight. */
  private static Answer backendAction(AdsServer ads, AdminHttp.ActionRequest request) {
    String[] parts = request.path().split("/");
    if (parts.length != 4) {
      return Answer.text(404, "use POST /backends/{name}/drain|undrain|weight?value=N|unweight\n");
    }
    String backend = parts[2];
    String action = parts[3];
    boolean known = ads.config().getBackendsList().stream().anyMatch(b -> b.getName().equals(backend));
    if (!known) {
      return Answer.text(404, "no backend named \"" + backend + "\"\n");
    }
    String detail = "";
    synchronized (ads) {
      BackendOverrides overrides = ads.overrides();
      switch (action) {
        case "drain" -> overrides.drain(backend);
        case "undrain" -> overrides.undrain(backend);
        case "unweight" -> overrides.clearWeight(backend);
        case "weight" -> {
          String q = request.query();
          int weight;
          try {
            weight = Integer.parseInt(q == null ? "" : q.replaceFirst("^value=", ""));
          } catch (NumberFormatException e) {
            return Answer.text(400, "weight needs ?value=N with N from 1 to 128\n");
          }
          if (weight < 1 || weight > 128) {
            return Answer.text(400, "weight needs ?value=N with N from 1 to 128\n");
          }
          overrides.setWeight(backend, weight);
          detail = " weight=" + weight;
        }
        default -> {
          return Answer.text(404, "unknown action \"" + action + "\" (drain, undrain, weight, unweight)\n");
        }
      }
      ads.publish(ads.config(), "admin " + action + " " + backend + " from " + request.caller());
    }
    return Answer.text(200, action + " " + backend + detail + ": version " + ads.version() + "\n");
  }
}
