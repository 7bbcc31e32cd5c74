package dev.weir.deploy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** A Dockerfile as its instructions (continuation lines joined, comments dropped), split into stages. */
record Dockerfile(List<List<Instruction>> stages) {
  /** One instruction: its keyword in upper case and the rest of the line. */
  record Instruction(String keyword, String args) {}

  static Dockerfile read(Path file) throws IOException {
    List<List<Instruction>> stages = new ArrayList<>();
    List<Instruction> preamble = new ArrayList<>();
    List<Instruction> current = preamble;
    StringBuilder line = new StringBuilder();
    for (String raw : Files.readAllLines(file)) {
      String trimmed = raw.strip();
      if (trimmed.startsWith("#") || (trimmed.isEmpty() && line.isEmpty())) {
        continue;
      }
      if (trimmed.endsWith("\\")) {
        line.append(trimmed, 0, trimmed.length() - 1).append(' ');
        continue;
      }
      line.append(trimmed);
      String full = line.toString().strip();
      line.setLength(0);
      if (full.isEmpty()) {
        continue;
      }
      int space = full.indexOf(' ');
      Instruction i = new Instruction(full.substring(0, space).toUpperCase(java.util.Locale.ROOT), full.substring(space + 1).strip());
      if (i.keyword().equals("FROM")) {
        current = new ArrayList<>();
        stages.add(current);
      }
      current.add(i);
    }
    return new Dockerfile(stages);
  }

  List<Instruction> finalStage() {
    return stages.get(stages.size() - 1);
  }

  /** The final stage's last instruction with this keyword, or null. */
  Instruction last(String keyword) {
    Instruction found = null;
    for (Instruction i : finalStage()) {
      if (i.keyword().equals(keyword)) {
        found = i;
      }
    }
    return found;
  }

  List<Instruction> all(String keyword) {
    return finalStage().stream().filter(i -> i.keyword().equals(keyword)).toList();
  }
}
