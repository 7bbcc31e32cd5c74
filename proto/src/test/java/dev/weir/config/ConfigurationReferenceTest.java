package dev.weir.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.google.protobuf.Descriptors.FieldDescriptor;
import dev.weir.config.v1.GatewayConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** docs/configuration.md's reference tables show exactly the defaults config.proto declares. */
class ConfigurationReferenceTest {
  private static final Path PAGE = Path.of("..", "docs", "configuration.md");
  private static final String HEADER = "| key | default | meaning |";
  /**
   * Every field path of the schema, except the Entra blocks under {@code security.adminToken} and
   * {@code console.controlPlaneToken}: they are Credentials, but only { env } and { file } are
   * accepted there (the loader says so).
   */
  private static final Map<String, FieldDescriptor> SCHEMA = schema();

  private static Map<String, FieldDescriptor> schema() {
    Map<String, FieldDescriptor> all = new java.util.LinkedHashMap<>(Defaults.fields(GatewayConfig.getDescriptor()));
    all.keySet().removeIf(path -> path.startsWith("security.adminToken.entra.")
        || path.startsWith("console.controlPlaneToken.entra."));
    return all;
  }

  /** Key → default cell of every row of every reference table on the page. */
  static Map<String, String> documentedDefaults(List<String> lines) {
    Map<String, String> rows = new LinkedHashMap<>();
    boolean inTable = false;
    for (String line : lines) {
      if (line.equals(HEADER)) {
        inTable = true;
        continue;
      }
      if (!line.startsWith("|")) {
        inTable = false;
      }
      if (!inTable || line.startsWith("| ---")) {
        continue;
      }
      String[] cells = line.substring(1, line.length() - 1).split("\\|", -1);
      String key = cells[0].strip();
      if (!(key.startsWith("`") && key.endsWith("`"))) {
        fail("a reference row names its key in `code`: " + line);
      }
      if (rows.put(key.substring(1, key.length() - 1), cells[1].strip()) != null) {
        fail("documented twice: " + key);
      }
    }
    return rows;
  }

  private static Map<String, String> page() throws Exception {
    return documentedDefaults(Files.readAllLines(PAGE));
  }

  /** The default a field declares, written as the reference writes it; empty if none a user sees. */
  private static Optional<String> expectedCell(FieldDescriptor f) {
    Optional<String> value = Defaults.declared(f).filter(v -> !v.equals(Defaults.PRESENT));
    return value.isPresent() ? value.map(v -> "`" + v + "`") : Defaults.derived(f);
  }

  /** Rows whose key is not in the schema or whose default differs from the declared one. */
  static List<String> mismatches(Map<String, String> rows) {
    List<String> wrong = new ArrayList<>();
    rows.forEach((key, cell) -> {
      FieldDescriptor f = SCHEMA.get(key);
      if (f == null) {
        wrong.add(key + ": no such key in config.proto");
        return;
      }
      String expected = expectedCell(f).orElse("");
      if (!cell.equals(expected)) {
        wrong.add(key + ": documented \"" + cell + "\", config.proto declares \"" + expected + "\"");
      }
    });
    return wrong;
  }

  @Test
  void everyDocumentedDefaultIsTheOneTheSchemaDeclares() throws Exception {
    Map<String, String> rows = page();
    assertTrue(rows.size() > 60, "found only " + rows.size() + " reference rows; did the table header change?");
    assertEquals(List.of(), mismatches(rows));
  }

  @Test
  void everyFieldWithADefaultIsInTheReference() throws Exception {
    Map<String, String> rows = page();
    List<String> missing = new ArrayList<>();
    SCHEMA.forEach((path, f) -> {
      if (expectedCell(f).isPresent() && !rows.containsKey(path)) {
        missing.add(path);
      }
    });
    assertEquals(List.of(), missing, "fields with a default that docs/configuration.md does not list");
  }

  @Test
  void aWrongDefaultAMissingDefaultAndAnUnknownKeyAreEachReported() {
    Map<String, String> rows = documentedDefaults(List.of("text", HEADER, "| --- | --- | --- |",
        "| `pools[].timeouts.requestSeconds` | `60` | typo |",
        "| `pools[].retries.maxRetries` | | forgot the default |",
        "| `pools[].timeout` | | renamed |",
        "| `pools[].name` | | fine |"));
    assertEquals(List.of(
        "pools[].timeouts.requestSeconds: documented \"`60`\", config.proto declares \"`600`\"",
        "pools[].retries.maxRetries: documented \"\", config.proto declares \"one per other member (at least 1),"
            + " at most 5\"",
        "pools[].timeout: no such key in config.proto"), mismatches(rows));
  }
}
