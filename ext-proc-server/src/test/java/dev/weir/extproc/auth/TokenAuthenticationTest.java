package dev.weir.extproc.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import dev.weir.config.ApiKeys;
import dev.weir.config.Defaults;
import dev.weir.config.v1.ClaimMatch;
import dev.weir.config.v1.Consumer;
import dev.weir.config.v1.IdentityProvider;
import dev.weir.config.v1.TokenMatch;
import dev.weir.extproc.identity.IdentityProviders;
import dev.weir.extproc.identity.ScriptedOidc;
import java.net.http.HttpClient;
import java.time.Clock;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class TokenAuthenticationTest {
  private ScriptedOidc oidc;
  private Authenticator auth;

  private static ClaimMatch claim(String name, String... values) {
    return ClaimMatch.newBuilder().setClaim(name).addAllValues(List.of(values)).build();
  }

  @BeforeEach
  void start() throws Exception {
    oidc = new ScriptedOidc();
    IdentityProvider.Builder p = IdentityProvider.newBuilder().setName("idp").setIssuer(oidc.issuer())
        .addAudiences("api://weir");
    Defaults.apply(p);
    Consumer admins = Consumer.newBuilder().setName("admins").addModels("*")
        .addTokens(TokenMatch.newBuilder().setProvider("idp").addClaims(claim("groups", "g-admins")))
        .build();
    Consumer app = Consumer.newBuilder().setName("app").addModels("gpt-4o").addModels("mini")
        .addKeys(ApiKeys.hash("sk-app-key-123456"))
        .addTokens(TokenMatch.newBuilder().setProvider("idp").addClaims(claim("appid", "app-1")).addModels("mini"))
        .build();
    auth = new Authenticator(List.of(admins, app),
        new IdentityProviders(List.of(p.build()), HttpClient.newHttpClient(), Clock.systemUTC()));
  }

  @AfterEach
  void stop() {
    oidc.close();
  }

  private Authenticator.Result bearer(String value) {
    return auth.authenticate("Bearer " + value, null);
  }

  @Test
  void aTokenBecomesTheFirstConsumerWhoseClaimsItMatches() throws Exception {
    var result = assertInstanceOf(Authenticator.Authenticated.class,
        bearer(oidc.token(oidc.claims().claim("appid", "app-1").claim("groups", List.of("g-admins")).build())));
    assertEquals("admins", result.caller().name());
    assertEquals("app-1", result.claims().get("appid"));
  }

  @Test
  void aTokenMatcherNarrowsTheConsumersModels() throws Exception {
    var result = assertInstanceOf(Authenticator.Authenticated.class,
        bearer(oidc.token(oidc.claims().claim("appid", "app-1").build())));
    assertEquals("app", result.caller().name());
    assertEquals(Set.of("mini"), result.caller().models());
  }

  @Test
  void theSameConsumersKeyStillAuthenticatesWithItsOwnModelsAndNoClaims() {
    var result = assertInstanceOf(Authenticator.Authenticated.class, bearer("sk-app-key-123456"));
    assertEquals(Set.of("gpt-4o", "mini"), result.caller().models());
    assertEquals(0, result.claims().size());
  }

  @Test
  void aValidTokenNoConsumerAcceptsIsForbidden() throws Exception {
    var rejected = assertInstanceOf(Authenticator.Rejected.class,
        bearer(oidc.token(oidc.claims().claim("appid", "someone-else").build())));
    assertEquals(403, rejected.error().status());
  }
}
