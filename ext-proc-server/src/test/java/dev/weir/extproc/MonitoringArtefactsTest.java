package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.weir.config.ApiKeys;
import dev.weir.extproc.openai.Json;
import dev.weir.testkit.RedisServerProcess;
import dev.weir.testkit.ScriptedUpstream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.Yaml;

/**
 * The operations artefacts in {@code deploy/}: the Prometheus alert rules pass {@code promtool
 * check rules} and their unit tests, and every metric the rules and the Grafana dashboard query
 * is one the gateway really exports, collected from a running gateway's {@code /metrics} after
 * traffic of every outcome (Envoy's, which no process here can export, from Envoy's source).
 */
class MonitoringArtefactsTest {
  static final Path RULES = Path.of("..", "deploy", "prometheus", "weir-alerts.yml");
  static final Path RULE_TESTS = Path.of("..", "deploy", "prometheus", "weir-alerts-test.yml");
  static final Path DASHBOARD = Path.of("..", "deploy", "grafana", "weir-dashboard.json");
  static final String KEY = "sk-weir-monitoring-test";
  /**
   * Envoy's own series the artefacts use. {@code ejections_active} is a gauge of
   * ALL_OUTLIER_DETECTION_STATS in source/common/upstream/outlier_detection_impl.h, kept under
   * {@code cluster.<name>.outlier_detection.}; the Prometheus output (source/server/admin/
   * prometheus_stats.cc) prefixes {@code envoy_}, turns dots into underscores and moves the
   * cluster name into the {@code envoy_cluster_name} label (source/common/config/well_known_names.cc).
   */
  static final Set<String> ENVOY_SERIES = Set.of("envoy_cluster_outlier_detection_ejections_active");
  private static final Set<String> PROMQL_WORDS = Set.of("by", "without", "on", "ignoring", "group_left",
      "group_right", "bool", "offset", "and", "or", "unless", "inf", "nan");

  static String promtool() {
    Path p = Path.of("/usr/bin/promtool");
    if (!Files.isExecutable(p)) {
      String why = "promtool (Debian package prometheus) is needed to check deploy/prometheus; .ci/run installs it";
      if (System.getenv("CI") != null) {
        throw new IllegalStateException(why);
      }
      org.junit.jupiter.api.Assumptions.abort(why);
    }
    return p.toString();
  }

  static String run(String... command) throws Exception {
    Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(process.getInputStream().readAllBytes());
    assertTrue(process.waitFor(60, TimeUnit.SECONDS), "promtool did not finish");
    assertEquals(0, process.exitValue(), String.join(" ", command) + "\n" + out);
    return out;
  }

  @Test
  void alertRulesPassPromtoolAndTheirUnitTests() throws Exception {
    String promtool = promtool();
    assertTrue(run(promtool, "check", "rules", RULES.toString()).contains("SUCCESS: 7 rules found"));
    assertTrue(run(promtool, "test", "rules", RULE_TESTS.toString()).contains("SUCCESS"));
  }

  /** The metric names a PromQL expression reads (not functions, keywords, labels or strings). */
  static Set<String> metricNames(String promql) {
    String s = promql.replaceAll("\"(\\\\.|[^\"\\\\])*\"", "\"\"")
        .replaceAll("\\{[^}]*\\}", " ")
        .replaceAll("\\[[^\\]]*\\]", " ")
        .replaceAll("\\b(by|without|on|ignoring|group_left|group_right)\\s*\\([^)]*\\)", " ");
    Set<String> names = new TreeSet<>();
    Matcher m = Pattern.compile("[a-zA-Z_:][a-zA-Z0-9_:]*(\\s*\\()?").matcher(s);
    while (m.find()) {
      String token = m.group().replaceAll("[\\s(]", "");
      boolean function = m.group().endsWith("(");
      int start = m.start();
      boolean partOfNumber = start > 0 && Character.isDigit(s.charAt(start - 1));
      if (!function && !partOfNumber && !PROMQL_WORDS.contains(token.toLowerCase(java.util.Locale.ROOT))) {
        names.add(token);
      }
    }
    return names;
  }

  @Test
  void metricNamesAreFoundInExpressionsAndNothingElseIs() {
    assertEquals(Set.of("weir_exchanges_total", "gen_ai_server_request_duration_seconds_bucket"), metricNames(
        "sum by (consumer, le) (rate(weir_exchanges_total{outcome=~\"a|b(c)\",x=\"$v\"}[$__rate_interval] offset 5m))"
            + " / on (le) group_left histogram_quantile(0.99, gen_ai_server_request_duration_seconds_bucket) > 1e3"));
  }

  /** Every expression in the rules and the dashboard (panels and variables). */
  @SuppressWarnings("unchecked")
  static List<String> expressions() throws Exception {
    List<String> out = new ArrayList<>();
    Map<String, Object> rules = new Yaml().load(Files.readString(RULES));
    for (Map<String, Object> group : (List<Map<String, Object>>) rules.get("groups")) {
      for (Map<String, Object> rule : (List<Map<String, Object>>) group.get("rules")) {
        out.add((String) rule.get("expr"));
      }
    }
    JsonNode dashboard = Json.MAPPER.readTree(Files.readString(DASHBOARD));
    for (JsonNode panel : dashboard.path("panels")) {
      panel.path("targets").forEach(t -> out.add(t.path("expr").asText()));
    }
    for (JsonNode variable : dashboard.path("templating").path("list")) {
      // label_values(metric, label): the metric is what must exist.
      out.add(variable.path("query").path("query").asText().replaceAll("label_values\\((\\w+),.*", "$1"));
    }
    return out;
  }

  /** Sample names of a Prometheus text scrape. */
  static Set<String> exported(String scrape) {
    Set<String> names = new TreeSet<>();
    for (String line : scrape.split("\n")) {
      if (!line.isBlank() && !line.startsWith("#")) {
        names.add(line.split("[{ ]", 2)[0]);
      }
    }
    return names;
  }

  @Test
  void everyMetricTheDashboardAndTheRulesQueryIsOneTheGatewayExports() throws Exception {
    Set<String> exported = new TreeSet<>(ENVOY_SERIES);
    try (ScriptedUpstream up = new ScriptedUpstream("up")) {
      try (Gateway gw = new Gateway("""
          backends: [ { name: up, provider: openai-compatible, url: UPSTREAM } ]
          pools: [ { name: p, members: [ { backend: up } ] } ]
          models: [ { name: m, pool: p, price: { inputPerMillion: 1, outputPerMillion: 2 } } ]
          limits:
            - { name: budget, budget: { usd: 5, period: month }, quota: { tokens: 100000, period: month } }
            - { name: tiny, tokensPerMinute: 10 }
          policies:
            safety: { blocklist: block, blockedTerms: [ "forbidden-word" ] }
            cache: { tiers: [ exact ] }
          consumers:
            - { name: team, keys: [ "%s" ], models: [ "*" ], limits: [ budget ] }
            - { name: small, keys: [ "%s" ], models: [ "*" ], limits: [ tiny ] }
          """.formatted(ApiKeys.hash(KEY), ApiKeys.hash(KEY + "-small")), up)) {
        String chat = "{\"model\":\"m\",\"temperature\":0,\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}";
        assertEquals(200, gw.chat(KEY, chat.formatted("hello")).status());
        assertEquals(200, gw.chat(KEY, chat.formatted("hello")).status()); // cached
        assertEquals(400, gw.chat(KEY, chat.formatted("forbidden-word")).status());
        assertEquals(429, gw.chat(KEY + "-small", chat.formatted("hello there")).status());
        up.enqueue(ScriptedUpstream.status(500), ScriptedUpstream.status(500), ScriptedUpstream.status(500));
        assertEquals(500, gw.chat(KEY, chat.formatted("fails")).status());
        exported.addAll(exported(gw.metricsContaining("outcome=\"backend_error\"")));
      }
      // A limit store that cannot be reached, failing open: the store-error counter.
      int closedPort = RedisServerProcess.freePort();
      try (Gateway gw = new Gateway("""
          backends: [ { name: up, provider: openai-compatible, url: UPSTREAM } ]
          pools: [ { name: p, members: [ { backend: up } ] } ]
          models: [ { name: m, pool: p } ]
          redis: { uri: "redis://127.0.0.1:%d", timeoutMillis: 200 }
          limits: [ { name: tpm, tokensPerMinute: 100000, onStoreFailure: open } ]
          consumers: [ { name: team, keys: [ "%s" ], models: [ "*" ], limits: [ tpm ] } ]
          """.formatted(closedPort, ApiKeys.hash(KEY)), up)) {
        assertEquals(200, gw.chat(KEY, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}")
            .status());
        exported.addAll(exported(gw.metricsContaining("weir_limiter_store_errors_total")));
      }
    }
    List<String> missing = new ArrayList<>();
    Set<String> used = new TreeSet<>();
    for (String expr : expressions()) {
      for (String name : metricNames(expr)) {
        used.add(name);
        if (!exported.contains(name)) {
          missing.add(name + " in: " + expr.strip());
        }
      }
    }
    assertEquals(List.of(), missing, "queried but not exported; the gateway exports " + exported);
    assertTrue(used.containsAll(Set.of("weir_limit_usage_ratio", "weir_exchanges_total", "weir_cost_usd_total",
        "gen_ai_server_request_duration_seconds_bucket", "envoy_cluster_outlier_detection_ejections_active")), used.toString());
  }
}
