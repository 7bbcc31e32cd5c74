package dev.weir.extproc.backendauth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.nimbusds.jose.crypto.RSASSAVerifier;
import com.nimbusds.jose.util.Base64URL;
import com.nimbusds.jwt.SignedJWT;
import dev.weir.config.Defaults;
import dev.weir.config.v1.CertificateSource;
import dev.weir.config.v1.EntraCredential;
import dev.weir.config.v1.ManagedIdentity;
import dev.weir.config.v1.SecretSource;
import java.io.FileInputStream;
import java.net.http.HttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.interfaces.RSAPublicKey;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Base64;
import java.util.Map;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EntraTokensTest {
  private static final String SECRET = "client-secret-value-42";
  private ScriptedEntra entra;
  private final MutableClock clock = new MutableClock();

  /** A clock the test moves. */
  static final class MutableClock extends Clock {
    volatile Instant now = Instant.now();

    @Override
    public Instant instant() {
      return now;
    }

    @Override
    public java.time.ZoneId getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(java.time.ZoneId zone) {
      return this;
    }
  }

  @BeforeEach
  void start() throws Exception {
    entra = new ScriptedEntra();
  }

  @AfterEach
  void stop() {
    entra.close();
  }

  private EntraTokens tokens(UnaryOperator<EntraCredential.Builder> method) {
    EntraCredential.Builder b = EntraCredential.newBuilder().setTenantId("tid-1").setClientId("cid-1")
        .setAuthorityHost(entra.url());
    method.apply(b);
    Defaults.apply(b);
    return new EntraTokens("aoai", b.build(), Map.of("AOAI_SECRET", SECRET)::get, HttpClient.newHttpClient(), clock);
  }

  private EntraTokens withSecret() {
    return tokens(b -> b.setClientSecret(SecretSource.newBuilder().setEnv("AOAI_SECRET")));
  }

  @Test
  void aClientSecretIsExchangedWithTheClientCredentialsGrantForTheCognitiveServicesScope() throws Exception {
    assertEquals("entra-token-1", withSecret().token());
    ScriptedEntra.Request r = entra.last();
    assertEquals("POST", r.method());
    assertEquals("/tid-1/oauth2/v2.0/token", r.path());
    assertEquals(Map.of("grant_type", "client_credentials", "client_id", "cid-1",
        "scope", "https://cognitiveservices.azure.com/.default", "client_secret", SECRET), r.params());
  }

  @Test
  void aCachedTokenIsReusedWithoutAskingAgain() throws Exception {
    EntraTokens t = withSecret();
    assertEquals("entra-token-1", t.token());
    clock.now = clock.now.plus(Duration.ofMinutes(30));
    assertEquals("entra-token-1", t.token());
    assertEquals(1, entra.requests().size());
  }

  @Test
  void aTokenNearItsExpiryIsStillServedWhileANewOneIsFetchedInTheBackground() throws Exception {
    EntraTokens t = withSecret();
    assertEquals("entra-token-1", t.token());
    clock.now = clock.now.plus(Duration.ofMinutes(57));
    assertEquals("entra-token-1", t.token(), "the request does not wait for the refresh");
    for (int i = 0; i < 200 && entra.requests().size() < 2; i++) {
      Thread.sleep(10);
    }
    assertEquals(2, entra.requests().size());
    String next = t.token();
    for (int i = 0; i < 200 && !next.equals("entra-token-2"); i++) {
      Thread.sleep(10);
      next = t.token();
    }
    assertEquals("entra-token-2", next);
  }

  @Test
  void aFailingBackgroundRefreshIsNotRetriedByEveryRequestWhileTheTokenStillServes() throws Exception {
    EntraTokens t = withSecret();
    assertEquals("entra-token-1", t.token());
    entra.failWith(500);
    clock.now = clock.now.plus(Duration.ofMinutes(57));
    assertEquals("entra-token-1", t.token());
    for (int i = 0; i < 200 && entra.requests().size() < 2; i++) {
      Thread.sleep(10);
    }
    Thread.sleep(100);
    for (int i = 0; i < 20; i++) {
      assertEquals("entra-token-1", t.token());
    }
    assertEquals(2, entra.requests().size(), "one failed refresh, then a back-off");
  }

  @Test
  void anExpiredTokenIsNeverSentAndAFailedRefreshSaysWhyWithoutTheSecret() throws Exception {
    EntraTokens t = withSecret();
    assertEquals("entra-token-1", t.token());
    entra.failWith(401);
    clock.now = clock.now.plus(Duration.ofHours(2));
    EntraTokens.UnavailableException e = assertThrows(EntraTokens.UnavailableException.class, t::token);
    assertTrue(e.getMessage().contains("backend \"aoai\""), e.getMessage());
    assertTrue(e.getMessage().contains("401: invalid_client"), e.getMessage());
    assertFalse(e.getMessage().contains(SECRET), e.getMessage());
    assertFalse(e.getMessage().contains("entra-token-1"), e.getMessage());
    entra.failWith(0);
    clock.now = clock.now.plusSeconds(10);
    assertEquals("entra-token-2", t.token(), "fetched again once the endpoint recovers");
  }

  @Test
  void aFederatedTokenFileIsReadAtEveryRequestAndSentAsTheClientAssertion(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("azure-identity-token");
    Files.writeString(file, "federated-jwt-1\n");
    EntraTokens t = tokens(b -> b.setFederatedTokenFile(file.toString()));
    t.token();
    assertEquals("federated-jwt-1", entra.last().params().get("client_assertion"));
    assertEquals("urn:ietf:params:oauth:client-assertion-type:jwt-bearer", entra.last().params().get("client_assertion_type"));
    Files.writeString(file, "federated-jwt-2\n");
    clock.now = clock.now.plus(Duration.ofHours(2));
    t.token();
    assertEquals("federated-jwt-2", entra.last().params().get("client_assertion"));
  }

  @Test
  void aManagedIdentityAsksImdsForTheResourceWithTheMetadataHeader() throws Exception {
    EntraTokens t = tokens(b -> b.clearTenantId().clearClientId()
        .setManagedIdentity(ManagedIdentity.newBuilder().setClientId("mi-client").setEndpoint(entra.imdsUrl())));
    assertEquals("entra-token-1", t.token());
    ScriptedEntra.Request r = entra.last();
    assertEquals("GET", r.method());
    assertEquals("/metadata/identity/oauth2/token", r.path());
    assertEquals("true", r.metadataHeader());
    assertEquals(Map.of("api-version", "2018-02-01", "resource", "https://cognitiveservices.azure.com",
        "client_id", "mi-client"), r.params());
  }

  @Test
  void aCertificateSignsAClientAssertionForTheTokenEndpoint(@TempDir Path dir) throws Exception {
    Path p12 = dir.resolve("cert.p12");
    Process keytool = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "keytool").toString(),
        "-genkeypair", "-alias", "weir", "-keyalg", "RSA", "-keysize", "2048", "-dname", "CN=weir-test",
        "-validity", "2", "-storetype", "PKCS12", "-keystore", p12.toString(), "-storepass", "changeit")
        .redirectErrorStream(true).start();
    assertEquals(0, keytool.waitFor(), new String(keytool.getInputStream().readAllBytes()));
    KeyStore ks = KeyStore.getInstance("PKCS12");
    try (var in = new FileInputStream(p12.toFile())) {
      ks.load(in, "changeit".toCharArray());
    }
    X509Certificate cert = (X509Certificate) ks.getCertificate("weir");
    PrivateKey key = (PrivateKey) ks.getKey("weir", "changeit".toCharArray());
    Base64.Encoder mime = Base64.getMimeEncoder(64, "\n".getBytes());
    Path pem = dir.resolve("cert.pem");
    Files.writeString(pem, "-----BEGIN PRIVATE KEY-----\n" + mime.encodeToString(key.getEncoded())
        + "\n-----END PRIVATE KEY-----\n-----BEGIN CERTIFICATE-----\n" + mime.encodeToString(cert.getEncoded())
        + "\n-----END CERTIFICATE-----\n");

    EntraTokens t = tokens(b -> b.setCertificate(CertificateSource.newBuilder().setFile(pem.toString())));
    assertEquals("entra-token-1", t.token());
    Map<String, String> params = entra.last().params();
    assertEquals("urn:ietf:params:oauth:client-assertion-type:jwt-bearer", params.get("client_assertion_type"));
    SignedJWT assertion = SignedJWT.parse(params.get("client_assertion"));
    assertTrue(assertion.verify(new RSASSAVerifier((RSAPublicKey) cert.getPublicKey())));
    assertEquals(Base64URL.encode(MessageDigest.getInstance("SHA-1").digest(cert.getEncoded())),
        assertion.getHeader().getX509CertThumbprint());
    assertEquals(entra.url() + "/tid-1/oauth2/v2.0/token", assertion.getJWTClaimsSet().getAudience().get(0));
    assertEquals("cid-1", assertion.getJWTClaimsSet().getIssuer());
    assertEquals("cid-1", assertion.getJWTClaimsSet().getSubject());
  }
}
