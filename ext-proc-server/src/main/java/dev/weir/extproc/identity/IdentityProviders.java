package dev.weir.extproc.identity;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.KeySourceException;
import com.nimbusds.jose.crypto.factories.DefaultJWSVerifierFactory;
import com.nimbusds.jose.jwk.source.JWKSource;
import com.nimbusds.jose.jwk.source.JWKSourceBuilder;
import com.nimbusds.jose.jwk.source.RateLimitReachedException;
import com.nimbusds.jose.proc.JWSVerificationKeySelector;
import com.nimbusds.jose.proc.SecurityContext;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import dev.weir.config.v1.ClaimMatch;
import dev.weir.config.v1.IdentityProvider;
import dev.weir.extproc.openai.ApiError;
import java.net.http.HttpClient;
import java.security.Key;
import java.text.ParseException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Validates the JWTs clients present against the configured OpenID Connect issuers, as Azure API
 * Management's {@code validate-jwt}: signature (RS256 or ES256) by a key of the issuer's JWKS, then
 * {@code iss}, {@code aud}, {@code exp} and {@code nbf} (with clock skew) and the required claims.
 *
 * <p>Keys are cached per issuer by nimbus's {@code JWKSourceBuilder}: a fetch at start, refreshed
 * ahead of expiry on a virtual thread while requests keep using the cached keys, fetched again when
 * a token names an unknown key id (rate limited), and a bounded wait ({@code jwksWaitMillis}) only
 * when no keys are cached. gRPC runs each call on a virtual thread (ExtProcServer), so that wait
 * parks no event loop. Error messages never contain the token.
 */
public final class IdentityProviders {
  private static final Logger log = LoggerFactory.getLogger(IdentityProviders.class);
  private static final Set<JWSAlgorithm> ALGORITHMS = Set.of(JWSAlgorithm.RS256, JWSAlgorithm.ES256);
  private static final ExecutorService REFRESH = Executors.newVirtualThreadPerTaskExecutor();

  private final Map<String, Issuer> byIssuer = new HashMap<>();
  private final Clock clock;

  private record Issuer(IdentityProvider config, JWKSource<SecurityContext> keys) {}

  /** A token's verdict: its provider and claims, or the error to answer with. */
  public sealed interface Result permits Valid, Invalid {}

  /** The token is valid; its provider and claims. */
  public record Valid(String provider, JWTClaimsSet claims) implements Result {}

  /** The token is refused: the error to answer. */
  public record Invalid(ApiError error) implements Result {}

  public IdentityProviders(List<IdentityProvider> providers, HttpClient http, Clock clock) {
    this.clock = clock;
    for (IdentityProvider p : providers) {
      long ttl = Duration.ofSeconds(p.getJwksCacheSeconds()).toMillis();
      JWKSource<SecurityContext> keys = JWKSourceBuilder.create(new JwksFetcher(p, http))
          .cache(ttl, p.getJwksWaitMillis())
          // Refresh in the background during the cache's last tenth, so no request waits for it.
          .refreshAheadCache(Math.max(1000, ttl / 10), null, REFRESH, false, null, false)
          .rateLimited(Duration.ofSeconds(p.getJwksMinRefetchSeconds()).toMillis())
          .retrying(false)
          .build();
      byIssuer.put(p.getIssuer(), new Issuer(p, keys));
    }
  }

  public static IdentityProviders of(List<IdentityProvider> providers) {
    return new IdentityProviders(providers,
        HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build(), Clock.systemUTC());
  }

  /** Whether any issuer is configured. */
  public boolean any() {
    return !byIssuer.isEmpty();
  }

  /** Fetches every issuer's keys in the background, so the first requests find them cached. */
  public void warmUp() {
    for (Issuer issuer : byIssuer.values()) {
      REFRESH.execute(() -> {
        try {
          issuer.keys().get(new com.nimbusds.jose.jwk.JWKSelector(new com.nimbusds.jose.jwk.JWKMatcher.Builder().build()),
              null);
        } catch (KeySourceException e) {
          log.warn("identity provider \"{}\": cannot fetch its signing keys yet: {}", issuer.config().getName(),
              e.getMessage());
        }
      });
    }
  }

  /** Whether a bearer value is a JWT rather than a Weir key (a compact JWS: three parts, JSON header). */
  public static boolean looksLikeJwt(String bearer) {
    return bearer.startsWith("eyJ") && bearer.chars().filter(c -> c == '.').count() == 2;
  }

  public Result validate(String token) {
    SignedJWT jwt;
    JWTClaimsSet claims;
    try {
      jwt = SignedJWT.parse(token);
      claims = jwt.getJWTClaimsSet();
    } catch (ParseException e) {
      return invalid("invalid_token", "The bearer token is not a well-formed signed JWT.");
    }
    JWSAlgorithm alg = jwt.getHeader().getAlgorithm();
    if (!ALGORITHMS.contains(alg)) {
      return invalid("invalid_token", "The token is signed with " + alg + "; only RS256 and ES256 are accepted.");
    }
    Issuer issuer = claims.getIssuer() == null ? null : byIssuer.get(claims.getIssuer());
    if (issuer == null) {
      return invalid("unknown_issuer", "Tokens from issuer \"" + shorten(claims.getIssuer())
          + "\" are not accepted by this gateway.");
    }
    IdentityProvider p = issuer.config();
    List<? extends Key> keys;
    try {
      keys = new JWSVerificationKeySelector<SecurityContext>(alg, issuer.keys()).selectJWSKeys(jwt.getHeader(), null);
    } catch (RateLimitReachedException e) {
      // The keys were fetched again a moment ago and still lack this key id: nobody published it.
      keys = List.of();
    } catch (KeySourceException e) {
      log.warn("identity provider \"{}\": signing keys unavailable: {}", p.getName(), e.getMessage());
      return new Invalid(new ApiError(503, "server_error", "signing_keys_unavailable", "The gateway could not"
          + " fetch the signing keys of identity provider \"" + p.getName() + "\"; try again shortly."));
    }
    if (!verifies(jwt, keys)) {
      return invalid("invalid_signature", "The token's signature does not verify with any signing key of"
          + " identity provider \"" + p.getName() + "\".");
    }
    Instant now = clock.instant();
    Duration skew = Duration.ofSeconds(p.getClockSkewSeconds());
    if (claims.getExpirationTime() == null) {
      return invalid("invalid_token", "The token has no expiry (exp).");
    }
    Instant exp = claims.getExpirationTime().toInstant();
    if (now.isAfter(exp.plus(skew))) {
      return invalid("token_expired", "The token expired at " + exp + ".");
    }
    if (claims.getNotBeforeTime() != null && now.isBefore(claims.getNotBeforeTime().toInstant().minus(skew))) {
      return invalid("token_not_yet_valid", "The token is not valid before " + claims.getNotBeforeTime().toInstant()
          + ".");
    }
    List<String> audiences = claims.getAudience();
    if (audiences.stream().noneMatch(p.getAudiencesList()::contains)) {
      return invalid("invalid_audience", "The token's audience " + audiences.stream().map(IdentityProviders::shorten)
          .toList() + " is not one this gateway accepts.");
    }
    for (ClaimMatch required : p.getRequiredClaimsList()) {
      if (!matches(claims, required)) {
        return invalid("missing_claim", "The token has no accepted value for claim \"" + required.getClaim() + "\".");
      }
    }
    return new Valid(p.getName(), claims);
  }

  /** A string claim equal to one of the values, or a list claim containing one. */
  public static boolean matches(JWTClaimsSet claims, ClaimMatch match) {
    Object value = claims.getClaim(match.getClaim());
    if (value instanceof Collection<?> list) {
      return list.stream().anyMatch(v -> match.getValuesList().contains(String.valueOf(v)));
    }
    return value != null && match.getValuesList().contains(String.valueOf(value));
  }

  /** The token's scalar claims as text, for limits keyed on {@code jwt:<claim>}. */
  public static Map<String, String> scalarClaims(JWTClaimsSet claims) {
    Map<String, String> out = new HashMap<>();
    claims.getClaims().forEach((k, v) -> {
      if (v instanceof String s) {
        out.put(k, s);
      } else if (v instanceof Number || v instanceof Boolean) {
        out.put(k, String.valueOf(v));
      } else if (v instanceof java.util.Date d) {
        out.put(k, Long.toString(d.toInstant().getEpochSecond()));
      }
    });
    return out;
  }

  private static boolean verifies(SignedJWT jwt, List<? extends Key> keys) {
    DefaultJWSVerifierFactory factory = new DefaultJWSVerifierFactory();
    for (Key key : keys) {
      try {
        if (jwt.verify(factory.createJWSVerifier(jwt.getHeader(), key))) {
          return true;
        }
      } catch (JOSEException e) {
        // A key of the wrong type or size for the algorithm: try the next.
      }
    }
    return false;
  }

  private static Invalid invalid(String code, String message) {
    return new Invalid(ApiError.unauthorized(code, message));
  }

  /** Attacker-chosen text shown in an error, cut short. */
  private static String shorten(String s) {
    return s == null ? "" : s.length() > 120 ? s.substring(0, 120) + "…" : s;
  }
}
