package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.ConfigException;
import dev.weir.config.ConfigLoader;
import dev.weir.config.v1.GatewayConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The console page's example is the shipped file, it loads, and a console block that would leak the token is refused. */
class ConsoleExampleTest {
  private static final Path EXAMPLE = Path.of("..", "examples", "console.yaml");
  private static final Map<String, String> ENV = Map.of("AOAI_EASTUS_KEY", "a", "OPENAI_API_KEY", "o",
      "WEIR_ADMIN_TOKEN", "admin", "WEIR_CONTROL_PLANE_TOKEN", "cp");

  @Test
  void consolePageShowsTheExampleFileVerbatim() throws Exception {
    String page = Files.readString(Path.of("..", "docs", "console.md"));
    assertTrue(page.contains("```yaml\n" + Files.readString(EXAMPLE) + "```"),
        "docs/console.md's example must be examples/console.yaml exactly");
  }

  @Test
  void theExampleLoadsWithItsControlPlaneAndToken() throws Exception {
    GatewayConfig config = new ConfigLoader(ENV::get, true).load(EXAMPLE);
    assertEquals("http://127.0.0.1:18001", config.getControlPlaneAdminUrl());
    assertEquals("WEIR_CONTROL_PLANE_TOKEN", config.getConsole().getControlPlaneToken().getEnv());
  }

  static String refusal(String console) {
    return refusal("console", console);
  }

  static String refusal(String key, String value) {
    String yaml = """
        backends: [ { name: b, provider: openai-compatible, url: "http://127.0.0.1:1" } ]
        pools: [ { name: p, members: [ { backend: b } ] } ]
        models: [ { name: m, pool: p } ]
        %s: %s
        """.formatted(key, value);
    return assertThrows(ConfigException.class, () -> new ConfigLoader(ENV::get, true).parse(yaml, "t", null))
        .getMessage();
  }

  @Test
  void aConsoleThatWouldSendTheTokenInClearOrAnywhereElseIsRefused() throws Exception {
    assertTrue(refusal("controlPlaneAdminUrl", "\"http://xds.internal:18001\"")
        .contains("controlPlaneAdminUrl (line 4): plain http is only allowed to a loopback address"));
    assertTrue(refusal("controlPlaneAdminUrl", "\"https://xds.internal:18001/admin?x=1\"")
        .contains("write http(s)://host[:port]"));
    assertTrue(refusal("{ controlPlaneToken: { env: NOT_SET_ANYWHERE } }").contains("console.controlPlaneToken"));
    assertTrue(refusal("{ controlPlaneToken: { entra: { tenantId: t, clientId: c } } }")
        .contains("set { env: VAR } or { file: path }"));
    GatewayConfig https = new ConfigLoader(ENV::get, true).parse("""
        backends: [ { name: b, provider: openai-compatible, url: "http://127.0.0.1:1" } ]
        pools: [ { name: p, members: [ { backend: b } ] } ]
        models: [ { name: m, pool: p } ]
        controlPlaneAdminUrl: "https://xds.internal:18001"
        """, "t", null);
    assertEquals("https://xds.internal:18001", https.getControlPlaneAdminUrl());
  }
}
