package dev.weir.extproc.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.weir.config.ConfigException;
import dev.weir.config.ConfigLoader;
import dev.weir.config.v1.Provider;
import dev.weir.extproc.openai.Endpoint;
import dev.weir.extproc.openai.ParsedRequest;
import dev.weir.extproc.openai.SseParser;
import dev.weir.extproc.providers.ProviderAdapters;
import dev.weir.extproc.providers.ResponseTranslator;
import dev.weir.extproc.routing.BackendTarget;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * Coverage-guided fuzzing (Jazzer) of everything a client, a backend or a config author controls:
 * request bodies for every endpoint, MCP's JSON-RPC messages, SSE streams, the config loader, and every provider's answer
 * translation (whole bodies and streams cut into arbitrary chunks). Each must answer every input
 * with a result or its own checked error, never a crash or a hang.
 *
 * <p>{@code mvn verify} runs it in regression mode (the inputs under
 * {@code src/test/resources/dev/weir/extproc/fuzz/ParsersFuzzTestInputs}); with
 * {@code JAZZER_FUZZ=1} it fuzzes for {@code maxDuration}. Crashes found become files there, and
 * so regression tests.
 */
class ParsersFuzzTest {
  private static final Endpoint[] ENDPOINTS = {Endpoint.CHAT_COMPLETIONS, Endpoint.COMPLETIONS,
      Endpoint.EMBEDDINGS, Endpoint.RESPONSES, Endpoint.MESSAGES};
  private static final ConfigLoader LOADER = new ConfigLoader(Map.of("K", "k")::get, false);
  private static final ParsedRequest CHAT = ((ParsedRequest.Ok) ParsedRequest.parse(Endpoint.CHAT_COMPLETIONS,
      "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}".getBytes(StandardCharsets.UTF_8)))
      .request();

  @FuzzTest(maxDuration = "30s")
  void parsersAndTranslatorsNeverCrash(FuzzedDataProvider data) {
    switch (data.consumeInt(0, 5)) {
      case 0 -> ParsedRequest.parse(ENDPOINTS[data.consumeInt(0, ENDPOINTS.length - 1)], data.consumeRemainingAsBytes());
      case 1 -> {
        SseParser sse = new SseParser(1 << 16);
        while (data.remainingBytes() > 0) {
          sse.feed(data.consumeBytes(data.consumeInt(1, 64)));
        }
        sse.finish();
      }
      case 5 -> {
        try {
          dev.weir.extproc.mcp.JsonRpc.parse(data.consumeRemainingAsBytes());
        } catch (dev.weir.extproc.mcp.JsonRpc.Malformed expected) {
          // not one JSON-RPC message: the exchange answers -32700 or -32600
        }
      }
      case 2 -> {
        try {
          LOADER.parse(data.consumeRemainingAsString(), "fuzz", null);
        } catch (ConfigException expected) {
          // a refused config, with its problems listed, is the right answer to a bad one
        }
      }
      default -> {
        Provider provider = data.pickValue(new Provider[] {Provider.ANTHROPIC, Provider.BEDROCK});
        BackendTarget backend = new BackendTarget("b", provider, URI.create("https://h"), "", "k", 0, "us-east-1",
            dev.weir.config.v1.AwsCredentials.getDefaultInstance());
        ResponseTranslator t = ProviderAdapters.of(provider).translator(CHAT, backend);
        if (data.consumeBoolean()) {
          t.translateBody(data.consumeInt(100, 599), data.consumeRemainingAsBytes());
        } else {
          while (data.remainingBytes() > 0) {
            t.translateStream(data.consumeBytes(data.consumeInt(1, 128)), false);
          }
          t.translateStream(new byte[0], true);
        }
      }
    }
  }
}
