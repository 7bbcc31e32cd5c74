package dev.weir.extproc.auth;

import dev.weir.config.ApiKeys;
import dev.weir.config.v1.Consumer;
import dev.weir.extproc.identity.IdentityProviders;
import dev.weir.extproc.openai.ApiError;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Finds the consumer behind a gateway API key sent as {@code Authorization: Bearer <key>} or
 * {@code api-key: <key>} (what the Azure OpenAI SDKs send). Keys live in the config only as SHA-256
 * hashes, so a leaked config file leaks no key.
 */
public final class Authenticator {
  private final Map<String, Caller> byKeyHash = new HashMap<>();
  /** When an expiring key stops working. */
  private final Map<String, java.time.Instant> expiresByHash = new HashMap<>();
  private final java.time.Clock clock;
  private final IdentityProviders identityProviders;
  private final TokenConsumers tokenConsumers;

  public Authenticator(List<Consumer> consumers) {
    this(consumers, IdentityProviders.of(List.of()));
  }

  /** With identity providers, a bearer JWT is validated and mapped by consumers' token matchers. */
  public Authenticator(List<Consumer> consumers, IdentityProviders identityProviders) {
    this(consumers, identityProviders, java.time.Clock.systemUTC());
  }

  public Authenticator(List<Consumer> consumers, java.time.Clock clock) {
    this(consumers, IdentityProviders.of(List.of()), clock);
  }

  public Authenticator(List<Consumer> consumers, IdentityProviders identityProviders, java.time.Clock clock) {
    this.clock = clock;
    this.identityProviders = identityProviders;
    this.tokenConsumers = new TokenConsumers(consumers);
    for (Consumer c : consumers) {
      Set<String> models = new HashSet<>(c.getModelsList());
      Caller caller = new Caller(c.getName(), Set.copyOf(models), models.contains("*"));
      for (String hash : c.getKeysList()) {
        byKeyHash.put(hash, caller);
      }
      for (var key : c.getExpiringKeysList()) {
        byKeyHash.put(key.getHash(), caller);
        if (!key.getExpires().isEmpty()) {
          expiresByHash.put(key.getHash(), java.time.Instant.parse(key.getExpires()));
        }
      }
    }
  }

  /** A caller, or the 401 to answer with. */
  public sealed interface Result permits Authenticated, Rejected {}

  /**
   * @param claims the scalar claims of a token Weir validated (for {@code jwt:<claim>} limits), else empty
   * @param keyId names the credential without revealing it (usage events): {@code key:} and the
   *     first 12 hex digits of its sha256, or {@code token:<identity provider>}
   */
  public record Authenticated(Caller caller, Map<String, String> claims, String keyId) implements Result {
    public Authenticated(Caller caller) {
      this(caller, Map.of(), "");
    }

    public Authenticated(Caller caller, Map<String, String> claims) {
      this(caller, claims, "");
    }
  }

  /** No valid key: the 401 to answer. */
  public record Rejected(ApiError error) implements Result {}

  /**
   * @param authorization the Authorization header, or null
   * @param apiKey the api-key (or Anthropic's x-api-key) header, or null
   */
  public Result authenticate(String authorization, String apiKey) {
    String key = null;
    if (authorization != null && !authorization.isBlank()) {
      String trimmed = authorization.strip();
      if (trimmed.length() > 7 && trimmed.regionMatches(true, 0, "Bearer ", 0, 7)) {
        key = trimmed.substring(7).strip();
      } else {
        return new Rejected(ApiError.unauthorized("invalid_api_key",
            "The Authorization header must be \"Bearer <your Weir API key>\"."));
      }
    } else if (apiKey != null && !apiKey.isBlank()) {
      key = apiKey.strip();
    }
    if (key == null || key.isEmpty()) {
      return new Rejected(ApiError.unauthorized("missing_api_key",
          "You didn't provide an API key. Send it as \"Authorization: Bearer <key>\" or in the"
              + " \"api-key\" (or \"x-api-key\") header."));
    }
    if (identityProviders.any() && IdentityProviders.looksLikeJwt(key)) {
      return authenticateToken(key);
    }
    String hash = ApiKeys.hash(key);
    Caller caller = byKeyHash.get(hash);
    java.time.Instant expires = expiresByHash.get(hash);
    if (caller != null && expires != null && !clock.instant().isBefore(expires)) {
      return new Rejected(ApiError.unauthorized("invalid_api_key",
          "The API key " + redact(key) + " expired at " + expires + "; ask for its replacement."));
    }
    if (caller == null) {
      return new Rejected(ApiError.unauthorized("invalid_api_key",
          "Incorrect API key provided: " + redact(key) + "."));
    }
    // "sha256:" and 12 of its 64 hex digits: enough to tell keys apart, useless for guessing one.
    return new Authenticated(caller, Map.of(), "key:" + hash.substring(7, 19));
  }

  private Result authenticateToken(String token) {
    IdentityProviders.Result verdict = identityProviders.validate(token);
    if (verdict instanceof IdentityProviders.Invalid invalid) {
      return new Rejected(invalid.error());
    }
    var valid = (IdentityProviders.Valid) verdict;
    Caller caller = tokenConsumers.find(valid.provider(), valid.claims());
    if (caller == null) {
      return new Rejected(ApiError.forbidden("token_not_authorized", "The token is valid but no consumer of this"
          + " gateway accepts it (identity provider \"" + valid.provider() + "\")."));
    }
    return new Authenticated(caller, IdentityProviders.scalarClaims(valid.claims()), "token:" + valid.provider());
  }

  /** Shows enough of a wrong key to recognise it, as OpenAI does, never the whole key. */
  static String redact(String key) {
    if (key.length() <= 8) {
      return "****";
    }
    return key.substring(0, 3) + "****" + key.substring(key.length() - 4);
  }
}
