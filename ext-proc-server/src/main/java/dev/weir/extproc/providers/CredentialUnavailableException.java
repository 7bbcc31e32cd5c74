package dev.weir.extproc.providers;

/**
 * An attempt cannot be sent because the backend's credential (an Entra ID token) could not be had
 * now; the message says why and holds no secret.
 */
public final class CredentialUnavailableException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public CredentialUnavailableException(String message) {
    super(message);
  }
}
