package dev.weir.deploy;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Renders a kustomization with the real tool: {@code kubectl kustomize} (kubectl carries kustomize
 * since 1.14; .ci/run installs Debian's kubernetes-client when no kubectl is on PATH), or a
 * standalone {@code kustomize build}. WEIR_KUBECTL names another kubectl. No tool is an error,
 * not a skip: manifests nobody rendered are manifests nobody checked.
 */
final class Kustomize {
  static final Path KUBERNETES = Path.of("..", "deploy", "kubernetes");

  private Kustomize() {}

  /** The rendered YAML of a topology folder under deploy/kubernetes (edge, sidecar). */
  static String render(String topology) throws IOException, InterruptedException {
    return render(KUBERNETES.resolve(topology));
  }

  static String render(Path dir) throws IOException, InterruptedException {
    List<String> command = command(dir);
    Path err = Files.createTempFile("kustomize", ".err");
    try {
      Process p = new ProcessBuilder(command).redirectError(err.toFile()).start();
      byte[] out = p.getInputStream().readAllBytes();
      if (!p.waitFor(60, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new IOException(String.join(" ", command) + " did not finish in 60 s");
      }
      if (p.exitValue() != 0) {
        throw new IOException(String.join(" ", command) + " failed: " + Files.readString(err));
      }
      return new String(out, StandardCharsets.UTF_8);
    } finally {
      Files.deleteIfExists(err);
    }
  }

  private static List<String> command(Path dir) throws IOException {
    String configured = System.getenv("WEIR_KUBECTL");
    if (configured != null && !configured.isBlank()) {
      return List.of(configured, "kustomize", dir.toString());
    }
    Path kubectl = onPath("kubectl");
    if (kubectl != null) {
      return List.of(kubectl.toString(), "kustomize", dir.toString());
    }
    Path kustomize = onPath("kustomize");
    if (kustomize != null) {
      return List.of(kustomize.toString(), "build", dir.toString());
    }
    throw new IOException("rendering deploy/kubernetes needs kubectl (Debian: apt-get install kubernetes-client)"
        + " or kustomize on PATH, or WEIR_KUBECTL=/path/to/kubectl");
  }

  private static Path onPath(String name) {
    for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
      Path candidate = Path.of(dir, name);
      if (Files.isExecutable(candidate)) {
        return candidate;
      }
    }
    return null;
  }
}
