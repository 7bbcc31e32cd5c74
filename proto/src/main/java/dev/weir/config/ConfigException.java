package dev.weir.config;

import java.util.List;
import java.util.stream.Collectors;

/** A config file that cannot be used, with every problem found in it. */
public final class ConfigException extends Exception {
  private static final long serialVersionUID = 1L;
  private final transient List<ConfigProblem> problems;

  public ConfigException(String source, List<ConfigProblem> problems) {
    super(format(source, problems));
    this.problems = List.copyOf(problems);
  }

  public List<ConfigProblem> problems() {
    return problems;
  }

  private static String format(String source, List<ConfigProblem> problems) {
    String header = problems.size() == 1
        ? source + ": 1 problem"
        : source + ": " + problems.size() + " problems";
    return header + "\n" + problems.stream().map(p -> "  " + p).collect(Collectors.joining("\n"));
  }
}
