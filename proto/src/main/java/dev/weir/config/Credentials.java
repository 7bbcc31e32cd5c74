package dev.weir.config;

import dev.weir.config.v1.Credential;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Function;

/** Resolves a backend credential from its source; the value itself is never put in a message. */
public final class Credentials {
  private Credentials() {}

  /** A credential whose source is missing or empty. */
  public static final class UnresolvableCredentialException extends Exception {
    private static final long serialVersionUID = 1L;

    UnresolvableCredentialException(String message) {
      super(message);
    }
  }

  public static String resolve(Credential credential, Function<String, String> env)
      throws UnresolvableCredentialException {
    switch (credential.getSourceCase()) {
      case ENV -> {
        String value = env.apply(credential.getEnv());
        if (value == null || value.isBlank()) {
          throw new UnresolvableCredentialException(
              "environment variable " + credential.getEnv() + " is not set");
        }
        return value.strip();
      }
      case FILE -> {
        Path file = Path.of(credential.getFile());
        String value;
        try {
          value = Files.readString(file, StandardCharsets.UTF_8).strip();
        } catch (IOException e) {
          throw new UnresolvableCredentialException(
              "cannot read credential file " + file + " (" + e.getClass().getSimpleName() + ")");
        }
        if (value.isEmpty()) {
          throw new UnresolvableCredentialException("credential file " + file + " is empty");
        }
        return value;
      }
      default -> throw new UnresolvableCredentialException("set { env: VAR } or { file: path }");
    }
  }
}
