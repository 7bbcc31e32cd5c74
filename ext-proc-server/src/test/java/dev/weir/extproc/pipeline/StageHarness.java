package dev.weir.extproc.pipeline;

import dev.weir.config.ApiKeys;
import dev.weir.config.ConfigLoader;
import dev.weir.extproc.GatewayRuntime;
import dev.weir.extproc.session.RouterExchange;
import dev.weir.extproc.telemetry.GatewayMetrics;
import java.util.Map;
import java.util.Set;

/** A gateway runtime from a small config, and router-pass exchanges that run only chosen stages. */
final class StageHarness implements AutoCloseable {
  static final String KEY = "sk-stage-test-key";
  static final String CONFIG = """
      backends:
        - { name: local, provider: openai-compatible, url: "http://127.0.0.1:1" }
      pools: [ { name: p, members: [ { backend: local } ] } ]
      models:
        - { name: gpt-4o, pool: p }
        - { name: secret-model, pool: p }
      limits:
        - { name: rpm, requestsPerMinute: 1 }
      consumers:
        - { name: team, keys: [ "%s" ], models: [ gpt-4o ], limits: [ rpm ] }
      extProc: { maxRequestBytes: 2000 }
      """.formatted(ApiKeys.hash(KEY));

  final GatewayRuntime runtime;

  StageHarness() throws Exception {
    this(CONFIG);
  }

  StageHarness(String yaml) throws Exception {
    var config = new ConfigLoader(Map.<String, String>of()::get, true).parse(yaml, "test", null);
    runtime = new GatewayRuntime(config, Map.<String, String>of()::get, new GatewayMetrics());
  }

  /** An exchange whose pipeline holds only the named stages of the standard one, in its order. */
  RouterExchange exchange(String... stageNames) {
    Set<String> names = Set.of(stageNames);
    return new RouterExchange(runtime, new Pipeline(Pipeline.standard().entries().stream()
        .filter(e -> names.contains(e.name())).toList()));
  }

  @Override
  public void close() {
    runtime.close();
  }
}
