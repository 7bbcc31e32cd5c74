package dev.weir.extproc;

import dev.weir.config.ApiKeys;
import dev.weir.config.ConfigLoader;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.testkit.EnvoyYaml;
import dev.weir.testkit.ScriptedUpstream;
import dev.weir.testkit.TestEnvoy;
import io.envoyproxy.envoy.config.bootstrap.v3.Bootstrap;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * The whole gateway on real parts except Envoy and the providers: the real ext-proc-server, the
 * router filter exactly as {@code envoy/envoy.yaml} configures it, the clusters and routes
 * xds-control-plane builds for the config, and scripted Azure-style and OpenAI-style backends.
 */
final class GatewayFixture implements AutoCloseable {
  static final String FINANCE_KEY = "sk-weir-finance-test-key-0001";
  static final String RESEARCH_KEY = "sk-weir-research-test-key-0002";
  static final String AZURE_SECRET = "azure-upstream-secret-123";
  static final String OPENAI_SECRET = "sk-openai-upstream-secret-456";

  final ScriptedUpstream azure;
  final ScriptedUpstream openai;
  final ScriptedUpstream local;
  final GatewayConfig config;
  final ExtProcServer server;
  final TestEnvoy envoy;
  final int port;

  GatewayFixture(Path dir) throws Exception {
    this(dir, 1024 * 1024);
  }

  GatewayFixture(Path dir, int maxRequestBytes) throws Exception {
    azure = new ScriptedUpstream("aoai");
    openai = new ScriptedUpstream("openai");
    local = new ScriptedUpstream("local");
    Files.writeString(dir.resolve("openai.key"), OPENAI_SECRET + "\n");
    String yaml = """
        backends:
          - name: aoai-eastus
            provider: azure-openai
            url: %s
            apiVersion: "2024-10-21"
            credential: { env: AOAI_KEY }
          - name: openai
            provider: openai
            url: %s
            credential: { file: openai.key }
          - name: local
            provider: openai-compatible
            url: %s/prefix
        pools:
          - name: gpt-4o
            strategy: priority
            members:
              - { backend: aoai-eastus, priority: 0, deployment: gpt-4o-ptu }
              - { backend: openai, priority: 1, model: gpt-4o-2024-08-06 }
          - name: small
            strategy: round-robin
            members:
              - { backend: local }
        models:
          - { name: gpt-4o, pool: gpt-4o }
          - { name: llama, pool: small }
          - { name: text-embedding-3-small, pool: gpt-4o }
        consumers:
          - name: team-finance
            keys: [ "%s" ]
            models: [ gpt-4o, text-embedding-3-small ]
          - name: team-research
            keys: [ "%s" ]
            models: [ "*" ]
        extProc:
          maxRequestBytes: %d
          drainSeconds: 2
        """.formatted(azure.url(), openai.url(), local.url(), ApiKeys.hash(FINANCE_KEY),
        ApiKeys.hash(RESEARCH_KEY), maxRequestBytes);
    Path file = dir.resolve("gateway.yaml");
    Files.writeString(file, yaml);
    Map<String, String> env = Map.of("AOAI_KEY", AZURE_SECRET);
    config = new ConfigLoader(env::get, true).load(file);
    server = new ExtProcServer(config, env::get, "127.0.0.1", 0, 0);
    envoy = Gateway.envoy(config, server.grpcPort());
    port = envoy.listen();
  }

  /** The router-level ext_proc filter exactly as the shipped bootstrap configures it. */
  static ExternalProcessor routerFilterFromBootstrap() throws Exception {
    Bootstrap bootstrap = EnvoyYaml.bootstrap(Path.of("..", "envoy", "envoy.yaml"));
    HttpConnectionManager hcm = bootstrap.getStaticResources().getListeners(0).getFilterChains(0)
        .getFilters(0).getTypedConfig().unpack(HttpConnectionManager.class);
    return hcm.getHttpFilters(0).getTypedConfig().unpack(ExternalProcessor.class);
  }

  String baseUrl() {
    return "http://127.0.0.1:" + port + "/v1";
  }

  @Override
  public void close() {
    envoy.close();
    server.close();
    azure.close();
    openai.close();
    local.close();
  }
}
