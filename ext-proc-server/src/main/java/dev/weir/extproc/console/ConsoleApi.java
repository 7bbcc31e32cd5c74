package dev.weir.extproc.console;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weir.admin.AdminHttp;
import dev.weir.admin.AdminHttp.Answer;
import dev.weir.config.v1.Backend;
import dev.weir.config.v1.Consumer;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.config.v1.Pool;
import dev.weir.config.v1.PoolMember;
import dev.weir.extproc.GatewayRuntime;
import dev.weir.extproc.limits.Limiter;
import dev.weir.extproc.openai.Json;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.function.Function;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The web console on ext-proc-server's admin port: its static files under {@code /console/} (open:
 * they hold no data), its JSON under {@code /console/api/} (admin token whenever one is
 * configured) and drain/undrain, which this server forwards to xds-control-plane with the control
 * plane's token (docs/console.md says why the browser never calls the control plane itself).
 */
public final class ConsoleApi {
  private static final Logger log = LoggerFactory.getLogger(ConsoleApi.class);
  private static final String STATIC = "dev/weir/extproc/console/static/";
  /** How far back the backends page looks at answers for a member's health. */
  static final int HEALTH_WINDOW_SAMPLES = 60;

  private final Supplier<GatewayRuntime> runtime;
  private final Function<String, String> env;
  private final Supplier<Boolean> tokenConfigured;
  private final ConsoleSampler sampler;
  private final ControlPlaneClient controlPlane = new ControlPlaneClient();
  private final Map<String, Answer> files;

  public ConsoleApi(Supplier<GatewayRuntime> runtime, Function<String, String> env, Supplier<Boolean> tokenConfigured,
      ConsoleSampler sampler) {
    this.runtime = runtime;
    this.env = env;
    this.tokenConfigured = tokenConfigured;
    this.sampler = sampler;
    this.files = files();
  }

  /** Adds the console's pages and actions to {@code admin}. */
  public AdminHttp register(AdminHttp admin) {
    return admin
        .asset("/console", this::file)
        .data("/console/api/overview", q -> Answer.json(200, overview().toString()))
        .data("/console/api/consumers", q -> Answer.json(200, consumers().toString()))
        .data("/console/api/backends", q -> Answer.json(200, backends().toString()))
        .action("/console/api/backends/", this::backendAction);
  }

  /** The console's files: a fixed list, so no request path ever reaches the class path. */
  private static Map<String, Answer> files() {
    Map<String, Answer> out = new HashMap<>();
    Answer index = resource(STATIC + "index.html", "text/html; charset=utf-8");
    out.put("/console", index);
    out.put("/console/", index);
    out.put("/console/console.js", resource(STATIC + "console.js", "text/javascript; charset=utf-8"));
    out.put("/console/console.css", resource(STATIC + "console.css", "text/css; charset=utf-8"));
    String uplot = "META-INF/resources/webjars/uplot/" + webJarVersion("org.webjars.npm", "uplot") + "/dist/";
    out.put("/console/lib/uPlot.iife.min.js", resource(uplot + "uPlot.iife.min.js", "text/javascript; charset=utf-8"));
    out.put("/console/lib/uPlot.min.css", resource(uplot + "uPlot.min.css", "text/css; charset=utf-8"));
    return Map.copyOf(out);
  }

  private Answer file(String path) {
    Answer a = files.get(path);
    return a != null ? a : Answer.text(404, "not found\n");
  }

  static String webJarVersion(String group, String artifact) {
    Properties p = new Properties();
    try (InputStream in = ConsoleApi.class.getClassLoader()
        .getResourceAsStream("META-INF/maven/" + group + "/" + artifact + "/pom.properties")) {
      if (in == null) {
        throw new IllegalStateException("the " + artifact + " WebJar is not on the class path");
      }
      p.load(in);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return p.getProperty("version");
  }

  private static Answer resource(String name, String type) {
    try (InputStream in = ConsoleApi.class.getClassLoader().getResourceAsStream(name)) {
      if (in == null) {
        throw new IllegalStateException("missing console resource " + name);
      }
      return new Answer(200, type, new String(in.readAllBytes(), StandardCharsets.UTF_8));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Totals since this process started (live) and the sampled history as chart series. */
  ObjectNode overview() {
    ObjectNode out = Json.MAPPER.createObjectNode();
    ConsoleSampler.Totals now = sampler.read();
    out.put("intervalSeconds", ConsoleSampler.INTERVAL_SECONDS);
    out.put("startedEpochSeconds", runtime.get().startedEpochSeconds());
    ObjectNode totals = out.putObject("totals");
    totals.put("requests", now.requests());
    for (String g : Outcomes.GROUPS) {
      totals.put(g, now.group(g));
    }
    totals.put("promptTokens", Math.round(now.promptTokens()));
    totals.put("completionTokens", Math.round(now.completionTokens()));
    totals.put("costUsd", now.costUsd());
    long hitsAndMisses = now.group("cached") + now.group("served");
    if (hitsAndMisses > 0) {
      totals.put("cacheHitRate", (double) now.group("cached") / hitsAndMisses);
    } else {
      totals.putNull("cacheHitRate");
    }
    putMillis(totals, "p50Ms", ConsoleSampler.quantileMillis(null, now, 0.5));
    putMillis(totals, "p99Ms", ConsoleSampler.quantileMillis(null, now, 0.99));
    List<ConsoleSampler.Totals> samples = new ArrayList<>(sampler.samples());
    samples.add(now);
    ObjectNode series = out.putObject("series");
    ArrayNode t = series.putArray("t");
    ArrayNode requests = series.putArray("requestsPerMinute");
    ArrayNode tokens = series.putArray("tokensPerMinute");
    ArrayNode hitRate = series.putArray("cacheHitRate");
    ArrayNode blocked = series.putArray("blocked");
    ArrayNode limited = series.putArray("limited");
    ArrayNode errors = series.putArray("errors");
    ArrayNode p50 = series.putArray("p50Ms");
    ArrayNode p99 = series.putArray("p99Ms");
    for (int i = 1; i < samples.size(); i++) {
      ConsoleSampler.Totals a = samples.get(i - 1);
      ConsoleSampler.Totals b = samples.get(i);
      double minutes = Math.max(1, b.epochMillis() - a.epochMillis()) / 60_000.0;
      t.add(b.epochMillis() / 1000.0);
      requests.add((b.requests() - a.requests()) / minutes);
      tokens.add((b.promptTokens() + b.completionTokens() - a.promptTokens() - a.completionTokens()) / minutes);
      long hits = b.group("cached") - a.group("cached");
      long misses = b.group("served") - a.group("served");
      if (hits + misses > 0) {
        hitRate.add((double) hits / (hits + misses));
      } else {
        hitRate.addNull();
      }
      blocked.add(b.group("blocked") - a.group("blocked"));
      limited.add(b.group("limited") - a.group("limited"));
      errors.add(b.group("errors") - a.group("errors"));
      addMillis(p50, ConsoleSampler.quantileMillis(a, b, 0.5));
      addMillis(p99, ConsoleSampler.quantileMillis(a, b, 0.99));
    }
    return out;
  }

  private static void putMillis(ObjectNode o, String name, Double v) {
    if (v == null) {
      o.putNull(name);
    } else {
      o.put(name, Math.round(v * 10) / 10.0);
    }
  }

  private static void addMillis(ArrayNode a, Double v) {
    if (v == null) {
      a.addNull();
    } else {
      a.add(Math.round(v * 10) / 10.0);
    }
  }

  /** Every consumer with every limit kind that applies to it and how much of it is used. */
  ArrayNode consumers() {
    GatewayRuntime r = runtime.get();
    GatewayConfig config = r.config();
    List<String> allModels = config.getModelsList().stream().map(m -> m.getName()).toList();
    ArrayNode out = Json.MAPPER.createArrayNode();
    for (Consumer c : config.getConsumersList()) {
      List<String> models = c.getModelsList().contains("*") ? allModels
          : c.getModelsList().stream().filter(allModels::contains).toList();
      ObjectNode one = out.addObject();
      one.put("name", c.getName());
      ArrayNode m = one.putArray("models");
      models.forEach(m::add);
      ArrayNode limits = one.putArray("limits");
      for (Limiter.Standing s : r.limiter().standing(c, models)) {
        ObjectNode l = limits.addObject();
        l.put("limit", s.limit());
        l.put("level", s.level());
        l.put("kind", s.kind());
        l.put("key", s.key());
        l.put("span", s.span());
        l.put("unit", s.unit().equals("usd_micros") ? "usd" : s.unit());
        boolean usd = s.unit().equals("usd_micros");
        if (s.used() < 0) {
          l.putNull("used");
        } else if (usd) {
          l.put("used", s.used() / 1e6);
        } else {
          l.put("used", s.used());
        }
        if (usd) {
          l.put("ceiling", s.ceiling() / 1e6);
        } else {
          l.put("ceiling", s.ceiling());
        }
        if (s.error() != null) {
          l.put("error", s.error());
        }
      }
    }
    return out;
  }

  /**
   * Pools and their members from the config in force, the control plane's drain and weight
   * overrides, and each backend's answers over the last five minutes as this server saw them.
   */
  ObjectNode backends() {
    GatewayConfig config = runtime.get().config();
    ObjectNode out = Json.MAPPER.createObjectNode();
    out.put("actions", tokenConfigured.get());
    ObjectNode cp = out.putObject("controlPlane");
    cp.put("url", ControlPlaneClient.baseUrl(config));
    Map<String, JsonNode> overrides = new HashMap<>();
    ControlPlaneClient.Reply reply = controlPlane.get(config, env, "/backends");
    if (reply.status() == 200) {
      try {
        JsonNode page = Json.MAPPER.readTree(reply.body());
        cp.put("reachable", true);
        cp.put("version", page.path("version").asText());
        page.path("backends").forEach(b -> overrides.put(b.path("name").asText(), b));
      } catch (IOException e) {
        cp.put("reachable", false);
        cp.put("error", "the control plane's /backends answer is not JSON");
      }
    } else {
      cp.put("reachable", false);
      cp.put("error", reply.status() == 0 ? reply.body() : "the control plane answered " + reply.status() + ": "
          + reply.body().strip());
    }
    Map<String, Backend> backends = new HashMap<>();
    config.getBackendsList().forEach(b -> backends.put(b.getName(), b));
    List<ConsoleSampler.Totals> samples = sampler.samples();
    ConsoleSampler.Totals before = samples.get(Math.max(0, samples.size() - 1 - HEALTH_WINDOW_SAMPLES));
    ConsoleSampler.Totals now = sampler.read();
    ArrayNode pools = out.putArray("pools");
    for (Pool p : config.getPoolsList()) {
      ObjectNode pool = pools.addObject();
      pool.put("name", p.getName());
      pool.put("strategy", p.getStrategy().name().toLowerCase(Locale.ROOT).replace('_', '-'));
      ArrayNode models = pool.putArray("models");
      config.getModelsList().stream().filter(m -> m.getPool().equals(p.getName())).forEach(m -> models.add(m.getName()));
      ArrayNode members = pool.putArray("members");
      for (PoolMember m : p.getMembersList()) {
        ObjectNode member = members.addObject();
        Backend b = backends.get(m.getBackend());
        member.put("backend", m.getBackend());
        member.put("provider", b == null ? "" : b.getProvider().name().toLowerCase(Locale.ROOT).replace('_', '-'));
        member.put("priority", m.getPriority());
        member.put("weight", m.getWeight());
        JsonNode o = overrides.get(m.getBackend());
        if (o == null) {
          member.putNull("drained");
        } else {
          member.put("drained", o.path("drained").asBoolean());
          if (o.has("weight")) {
            member.put("weightOverride", o.path("weight").asInt());
          }
        }
        health(member, before, now, m.getBackend());
      }
    }
    return out;
  }

  /** The backend's answers between two samples: ok, failing (half or more errors) or idle. */
  static void health(ObjectNode member, ConsoleSampler.Totals before, ConsoleSampler.Totals now, String backend) {
    Map<String, Long> a = before.byBackend().getOrDefault(backend, Map.of());
    Map<String, Long> b = now.byBackend().getOrDefault(backend, Map.of());
    long answered = 0;
    for (String g : Outcomes.GROUPS) {
      answered += b.getOrDefault(g, 0L) - a.getOrDefault(g, 0L);
    }
    long errors = b.getOrDefault("errors", 0L) - a.getOrDefault("errors", 0L);
    member.put("answers", answered);
    member.put("errors", errors);
    member.put("health", answered == 0 ? "idle" : errors * 2 >= answered ? "failing" : "ok");
  }

  /** POST /console/api/backends/{name}/drain|undrain, forwarded to the control plane. */
  private Answer backendAction(AdminHttp.ActionRequest request) {
    String[] parts = request.path().split("/");
    // "", "console", "api", "backends", name, action
    if (parts.length != 6 || !(parts[5].equals("drain") || parts[5].equals("undrain"))) {
      return Answer.text(404, "use POST /console/api/backends/{name}/drain or /undrain\n");
    }
    String backend = parts[4];
    GatewayConfig config = runtime.get().config();
    if (config.getBackendsList().stream().noneMatch(b -> b.getName().equals(backend))) {
      return Answer.text(404, "no backend named \"" + backend + "\"\n");
    }
    ControlPlaneClient.Reply reply = controlPlane.post(config, env, "/backends/" + backend + "/" + parts[5]);
    log.info("console: {} {} for {}: control plane answered {}", parts[5], backend, request.caller(), reply.status());
    if (reply.status() == 0) {
      return Answer.text(502, reply.body() + "\n");
    }
    return Answer.text(reply.status() == 200 ? 200 : 502, "control plane: " + reply.body().strip() + "\n");
  }
}
