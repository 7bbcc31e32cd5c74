package dev.weir.extproc.identity;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.nimbusds.jose.jwk.ECKey;
import com.nimbusds.jwt.JWTClaimsSet;
import dev.weir.config.Defaults;
import dev.weir.config.v1.ClaimMatch;
import dev.weir.config.v1.IdentityProvider;
import dev.weir.extproc.openai.ApiError;
import java.net.http.HttpClient;
import java.time.Clock;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class IdentityProvidersTest {
  private ScriptedOidc oidc;

  @BeforeEach
  void start() throws Exception {
    oidc = new ScriptedOidc();
  }

  @AfterEach
  void stop() {
    oidc.close();
  }

  private IdentityProviders providers(UnaryOperator<IdentityProvider.Builder> tweak) {
    IdentityProvider.Builder b = IdentityProvider.newBuilder().setName("entra").setIssuer(oidc.issuer())
        .addAudiences("api://weir");
    Defaults.apply(b);
    return new IdentityProviders(List.of(tweak.apply(b).build()), HttpClient.newHttpClient(), Clock.systemUTC());
  }

  private IdentityProviders providers() {
    return providers(b -> b);
  }

  private static ApiError rejected(IdentityProviders.Result result) {
    return assertInstanceOf(IdentityProviders.Invalid.class, result).error();
  }

  @Test
  void acceptsAnRs256TokenSignedByAKeyFromTheDiscoveredJwks() throws Exception {
    var valid = assertInstanceOf(IdentityProviders.Valid.class,
        providers().validate(oidc.token(oidc.claims().claim("appid", "app-1").build())));
    assertEquals("entra", valid.provider());
    assertEquals("app-1", valid.claims().getStringClaim("appid"));
    assertEquals(1, oidc.discoveryFetches());
  }

  @Test
  void acceptsAnEs256Token() throws Exception {
    ECKey ec = ScriptedOidc.ec("ec-1");
    oidc.publishAndSignWith(ec);
    assertInstanceOf(IdentityProviders.Valid.class, providers().validate(oidc.token(oidc.claims().build())));
  }

  @Test
  void rejectsATokenExpiredLongerAgoThanTheClockSkew() throws Exception {
    Instant now = Instant.now();
    String expired = oidc.token(oidc.claims().expirationTime(Date.from(now.minusSeconds(120))).build());
    ApiError error = rejected(providers().validate(expired));
    assertEquals(401, error.status());
    assertEquals("token_expired", error.code());
    String withinSkew = oidc.token(oidc.claims().expirationTime(Date.from(now.minusSeconds(30))).build());
    assertInstanceOf(IdentityProviders.Valid.class, providers().validate(withinSkew));
  }

  @Test
  void rejectsATokenNotYetValid() throws Exception {
    String early = oidc.token(oidc.claims().notBeforeTime(Date.from(Instant.now().plusSeconds(600))).build());
    assertEquals("token_not_yet_valid", rejected(providers().validate(early)).code());
  }

  @Test
  void rejectsATokenForAnotherAudience() throws Exception {
    String other = oidc.token(oidc.claims().audience("api://someone-else").build());
    assertEquals("invalid_audience", rejected(providers().validate(other)).code());
  }

  @Test
  void rejectsATokenOfAnUnknownIssuerWithoutFetchingAnything() throws Exception {
    String foreign = oidc.token(oidc.claims().issuer("https://evil.example").build());
    ApiError error = rejected(providers().validate(foreign));
    assertEquals("unknown_issuer", error.code());
    assertEquals(0, oidc.jwksFetches());
  }

  @Test
  void rejectsATokenSignedByAnUnpublishedKeyThatClaimsAPublishedKeyId() throws Exception {
    String forged = ScriptedOidc.sign(ScriptedOidc.rsa("k1"), oidc.claims().build());
    ApiError error = rejected(providers().validate(forged));
    assertEquals("invalid_signature", error.code());
    assertFalse(error.message().contains(forged.substring(forged.lastIndexOf('.') + 1)), error.message());
  }

  @Test
  void rejectsATokenWithoutARequiredClaimValue() throws Exception {
    IdentityProviders p = providers(b -> b.addRequiredClaims(ClaimMatch.newBuilder().setClaim("tid").addValues("t-1")));
    assertEquals("missing_claim", rejected(p.validate(oidc.token(oidc.claims().claim("tid", "t-2").build()))).code());
    assertInstanceOf(IdentityProviders.Valid.class, p.validate(oidc.token(oidc.claims().claim("tid", "t-1").build())));
  }

  @Test
  void errorMessagesNeverContainTheToken() throws Exception {
    IdentityProviders p = providers();
    for (JWTClaimsSet claims : List.of(oidc.claims().audience("x").build(),
        oidc.claims().expirationTime(Date.from(Instant.now().minusSeconds(3600))).build())) {
      String token = oidc.token(claims);
      ApiError error = rejected(p.validate(token));
      for (String part : token.split("\\.")) {
        assertFalse(error.message().contains(part), error.message());
      }
    }
  }

  @Test
  void fetchesTheKeysAgainWhenATokenNamesAnUnknownKeyIdButAtMostOncePerInterval() throws Exception {
    IdentityProviders p = providers();
    assertInstanceOf(IdentityProviders.Valid.class, p.validate(oidc.token(oidc.claims().build())));
    int fetches = oidc.jwksFetches();
    oidc.rotate("k2");
    assertInstanceOf(IdentityProviders.Valid.class, p.validate(oidc.token(oidc.claims().build())),
        "a token signed by the rotated key is accepted after one refetch");
    assertEquals(fetches + 1, oidc.jwksFetches());
    // Tokens naming key ids nobody published must not make the gateway hammer the issuer.
    for (int i = 0; i < 5; i++) {
      String unknown = ScriptedOidc.sign(ScriptedOidc.rsa("nope-" + i), oidc.claims().build());
      assertEquals("invalid_signature", rejected(p.validate(unknown)).code());
    }
    assertTrue(oidc.jwksFetches() <= fetches + 2, "fetched " + oidc.jwksFetches() + " times");
  }

  @Test
  void answers503WhenTheKeysCannotBeFetchedOnAColdCache() throws Exception {
    oidc.down(true);
    ApiError error = rejected(providers().validate(oidc.token(oidc.claims().build())));
    assertEquals(503, error.status());
    assertEquals("signing_keys_unavailable", error.code());
  }

  @Test
  void warmUpFetchesTheKeysBeforeTheFirstRequest() throws Exception {
    IdentityProviders p = providers();
    p.warmUp();
    for (int i = 0; i < 200 && oidc.jwksFetches() == 0; i++) {
      Thread.sleep(10);
    }
    assertEquals(1, oidc.jwksFetches());
    assertInstanceOf(IdentityProviders.Valid.class, p.validate(oidc.token(oidc.claims().build())));
    assertEquals(1, oidc.jwksFetches());
  }
}
