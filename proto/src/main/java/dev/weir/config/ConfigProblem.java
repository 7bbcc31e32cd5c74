package dev.weir.config;

/** One thing wrong in a config file: where (field path and line) and what. */
public record ConfigProblem(String path, int line, String message) {
  @Override
  public String toString() {
    String where = path.isEmpty() ? "(top level)" : path;
    return line > 0 ? where + " (line " + line + "): " + message : where + ": " + message;
  }
}
