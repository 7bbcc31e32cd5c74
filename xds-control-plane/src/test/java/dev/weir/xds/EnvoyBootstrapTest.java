package dev.weir.xds;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.Wire;
import dev.weir.testkit.EnvoyYaml;
import io.envoyproxy.envoy.config.bootstrap.v3.Bootstrap;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** Every Envoy YAML we ship parses strictly into Envoy's own Bootstrap proto and wires Weir right. */
class EnvoyBootstrapTest {
  private static final Path ENVOY_DIR = Path.of("..", "envoy");

  static List<Path> shippedYaml() throws IOException {
    try (Stream<Path> files = Files.walk(ENVOY_DIR)) {
      return files.filter(p -> p.toString().endsWith(".yaml") || p.toString().endsWith(".yml")).sorted().toList();
    }
  }

  @Test
  void everyShippedYamlIsAStrictlyValidBootstrap() throws IOException {
    List<Path> files = shippedYaml();
    assertFalse(files.isEmpty());
    for (Path f : files) {
      Bootstrap b = EnvoyYaml.bootstrap(f);
      assertTrue(b.hasStaticResources(), f + " has static resources");
    }
  }

  @Test
  void strictParsingRejectsAnUnknownFieldAndAnUnknownType() throws IOException {
    String yaml = Files.readString(ENVOY_DIR.resolve("envoy.yaml"));
    IOException unknownField = assertThrows(IOException.class,
        () -> EnvoyYaml.parse(yaml.replace("message_timeout: 10s",
            "message_timeout: 10s\n                      mesage_timeout: 1s"), Bootstrap.newBuilder()));
    assertTrue(unknownField.getMessage().contains("mesage_timeout"), unknownField.getMessage());
    assertThrows(IOException.class, () -> EnvoyYaml.parse(
        yaml.replace("ext_proc.v3.ExternalProcessor", "ext_proc.v3.ExternalProcesor"), Bootstrap.newBuilder()));
  }

  @Test
  void routerPassIsConfiguredAsTheServerExpects() throws Exception {
    Bootstrap b = EnvoyYaml.bootstrap(ENVOY_DIR.resolve("envoy.yaml"));
    HttpConnectionManager hcm = b.getStaticResources().getListeners(0).getFilterChains(0).getFilters(0)
        .getTypedConfig().unpack(HttpConnectionManager.class);
    assertEquals(Wire.ROUTE_CONFIG_NAME, hcm.getRds().getRouteConfigName());
    assertTrue(hcm.getRds().getConfigSource().hasAds());
    assertEquals("envoy.filters.http.ext_proc", hcm.getHttpFilters(0).getName());
    assertEquals("envoy.filters.http.router", hcm.getHttpFilters(hcm.getHttpFiltersCount() - 1).getName());
    ExternalProcessor ep = hcm.getHttpFilters(0).getTypedConfig().unpack(ExternalProcessor.class);
    assertEquals(Wire.EXT_PROC_CLUSTER, ep.getGrpcService().getEnvoyGrpc().getClusterName());
    assertEquals(Wire.PASS_METADATA, ep.getGrpcService().getInitialMetadata(0).getKey());
    assertEquals(Wire.ROUTER_PASS, ep.getGrpcService().getInitialMetadata(0).getValue());
    assertEquals(ProcessingMode.BodySendMode.BUFFERED, ep.getProcessingMode().getRequestBodyMode());
    assertEquals(ProcessingMode.BodySendMode.BUFFERED, ep.getProcessingMode().getResponseBodyMode());
    assertTrue(ep.getAllowModeOverride(), "SSE answers are switched to STREAMED by mode_override");
    assertFalse(ep.getFailureModeAllow(), "fail closed: no unauthenticated request may pass");
    assertEquals(10, ep.getMessageTimeout().getSeconds());
    assertEquals(List.of(Wire.BACKEND_ATTRIBUTE), ep.getResponseAttributesList());
    assertEquals(List.of("source.address"), ep.getRequestAttributesList());
    assertEquals(List.of("envoy.filters.http.jwt_authn"), ep.getMetadataOptions().getForwardingNamespaces().getUntypedList());
    // The listener buffers up to the largest accepted request.
    assertTrue(b.getStaticResources().getListeners(0).getPerConnectionBufferLimitBytes().getValue()
        > dev.weir.config.ConfigLoader.DEFAULT_MAX_REQUEST_BYTES);
  }

  @Test
  void adsAndTheExtProcClusterSpeakHttp2() throws Exception {
    Bootstrap b = EnvoyYaml.bootstrap(ENVOY_DIR.resolve("envoy.yaml"));
    assertTrue(b.getDynamicResources().getCdsConfig().hasAds());
    for (Cluster c : b.getStaticResources().getClustersList()) {
      var options = c.getTypedExtensionProtocolOptionsOrThrow(EnvoyResources.PROTOCOL_OPTIONS_KEY)
          .unpack(io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions.class);
      assertTrue(options.getExplicitHttpConfig().hasHttp2ProtocolOptions(), c.getName() + " is gRPC");
    }
    assertEquals(List.of(Wire.EXT_PROC_CLUSTER, "weir_xds"),
        b.getStaticResources().getClustersList().stream().map(Cluster::getName).toList());
  }

  private static HttpConnectionManager hcm() throws Exception {
    return EnvoyYaml.bootstrap(ENVOY_DIR.resolve("envoy.yaml")).getStaticResources().getListeners(0)
        .getFilterChains(0).getFilters(0).getTypedConfig().unpack(HttpConnectionManager.class);
  }

  @Test
  void clientAddressIsThePeerOrATrustedHopNeverTheClientsForwardedFor() throws Exception {
    HttpConnectionManager hcm = hcm();
    assertTrue(hcm.getUseRemoteAddress().getValue(), "source.address must be the connection's peer");
    assertEquals(0, hcm.getXffNumTrustedHops());
  }

  @Test
  void gatewayMadeErrorsAreAnsweredInOpenAiErrorJson() throws Exception {
    var mappers = hcm().getLocalReplyConfig().getMappersList();
    java.util.Map<Integer, String> codeByStatus = new java.util.HashMap<>();
    for (var m : mappers) {
      var filters = m.getFilter().getAndFilter().getFiltersList();
      int status = filters.get(0).getStatusCodeFilter().getComparison().getValue().getDefaultValue();
      assertTrue(filters.get(1).hasResponseFlagFilter() || filters.get(1).hasExtensionFilter(),
          status + " matches only replies Envoy made itself, not the ext_proc server's own answers");
      var error = m.getBodyFormatOverride().getJsonFormat().getFieldsOrThrow("error").getStructValue();
      for (String field : List.of("message", "type", "param", "code")) {
        assertTrue(error.containsFields(field), status + " error JSON has " + field);
      }
      codeByStatus.put(status, error.getFieldsOrThrow("code").getStringValue());
    }
    assertEquals(java.util.Map.of(413, "request_too_large", 503, "no_healthy_upstream", 504, "upstream_timeout",
        500, "gateway_unavailable"), codeByStatus);
    assertFalse(hcm().getLocalReplyConfig().hasBodyFormat(),
        "no catch-all format: it would rewrap the ext_proc server's own JSON answers");
  }
}
