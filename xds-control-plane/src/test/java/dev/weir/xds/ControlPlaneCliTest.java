package dev.weir.xds;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class ControlPlaneCliTest {
  private static String run(int expected, String... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    int code = Main.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(out, true, StandardCharsets.UTF_8));
    String text = out.toString(StandardCharsets.UTF_8);
    assertEquals(expected, code, text);
    return text;
  }

  @Test
  void helpListsTheAdminApi() {
    String help = run(0, "--help");
    assertTrue(help.contains("/backends/NAME/drain") && help.contains("--no-watch"), help);
  }

  @Test
  void printShowsTheResourcesOfAConfigWithoutServing() {
    String json = run(0, "--print", "--config", "../examples/failover.yaml");
    assertTrue(json.contains("\"name\": \"pool_gpt-4o\"") && json.contains("\"priority\": 2"), json);
  }

  @Test
  void badCommandLinesAreUsageErrors() {
    assertTrue(run(2, "--config", "x.yaml", "--ads-port", "http").contains("needs a port number"));
    assertTrue(run(2).contains("--config FILE is required"));
    assertTrue(run(1, "--config", "/nonexistent.yaml").contains("cannot read the file"));
  }
}
