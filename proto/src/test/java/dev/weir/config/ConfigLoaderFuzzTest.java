package dev.weir.config;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * A bounded mutation fuzzer over the config loader, seeded with the shipped examples: every
 * mutated file is loaded or refused with a ConfigException naming its problems, never another
 * exception. Deterministic by default; {@code -Dweir.fuzz.rounds=N -Dweir.fuzz.seed=S} runs longer.
 */
class ConfigLoaderFuzzTest {
  static final long SEED = Long.getLong("weir.fuzz.seed", 20261126L);
  static final int ROUNDS = Integer.getInteger("weir.fuzz.rounds", 1500);
  static final String[] TOKENS = {":", "- ", "[", "]", "{", "}", "\"", "'", "\n", "  ", "&a", "*a", "!!binary ",
      "~", "null", "-1", "99999999999", "1e309", "yes", "sha256:", "https://", "\t", "#", "? ", "|", ">"};

  @Test
  void everyMutatedExampleIsLoadedOrRefusedWithItsProblems() throws Exception {
    ConfigLoader loader = new ConfigLoader(name -> "k", true);
    String[] seeds = {
        Files.readString(Path.of("..", "examples", "gateway.yaml")),
        Files.readString(Path.of("..", "examples", "failover.yaml")),
        Files.readString(Path.of("..", "examples", "governance.yaml"))};
    Random r = new Random(SEED);
    for (int round = 0; round < ROUNDS; round++) {
      StringBuilder s = new StringBuilder(seeds[r.nextInt(seeds.length)]);
      for (int step = 1 + r.nextInt(4); step > 0; step--) {
        int pos = r.nextInt(s.length() + 1);
        switch (r.nextInt(3)) {
          case 0 -> s.insert(pos, TOKENS[r.nextInt(TOKENS.length)]);
          case 1 -> s.delete(pos, Math.min(s.length(), pos + 1 + r.nextInt(12)));
          default -> {
            int end = Math.min(s.length(), pos + 1 + r.nextInt(40));
            s.insert(end, s.substring(pos, end));
          }
        }
      }
      String yaml = s.toString();
      try {
        loader.parse(yaml, "fuzz.yaml", null);
      } catch (ConfigException expected) {
        // refused with a path and a message: what a broken file must produce
      } catch (RuntimeException | StackOverflowError e) {
        throw new AssertionError("seed " + SEED + " round " + round + " threw " + e + " on:\n"
            + new String(yaml.getBytes(StandardCharsets.UTF_8), StandardCharsets.UTF_8), e);
      }
    }
  }
}
