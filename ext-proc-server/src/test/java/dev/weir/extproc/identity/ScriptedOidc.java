package dev.weir.extproc.identity;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.ECDSASigner;
import com.nimbusds.jose.crypto.RSASSASigner;
import com.nimbusds.jose.jwk.Curve;
import com.nimbusds.jose.jwk.ECKey;
import com.nimbusds.jose.jwk.JWK;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jose.jwk.gen.ECKeyGenerator;
import com.nimbusds.jose.jwk.gen.RSAKeyGenerator;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An OpenID Connect provider for tests: discovery and JWKS over real HTTP, keys generated here,
 * tokens signed with them, and key rotation.
 */
public final class ScriptedOidc implements AutoCloseable {
  private final HttpServer server;
  private final List<JWK> published = new CopyOnWriteArrayList<>();
  private final AtomicInteger jwksFetches = new AtomicInteger();
  private final AtomicInteger discoveryFetches = new AtomicInteger();
  private volatile JWK signing;
  private volatile boolean down;

  public ScriptedOidc() throws Exception {
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.createContext("/.well-known/openid-configuration", ex -> {
      discoveryFetches.incrementAndGet();
      reply(ex, "{\"issuer\":\"" + issuer() + "\",\"jwks_uri\":\"" + issuer() + "/discovery/keys\"}");
    });
    server.createContext("/discovery/keys", ex -> {
      jwksFetches.incrementAndGet();
      reply(ex, new JWKSet(List.copyOf(published)).toPublicJWKSet().toString());
    });
    server.start();
    signing = rsa("k1");
    published.add(signing);
  }

  public static RSAKey rsa(String kid) throws JOSEException {
    return new RSAKeyGenerator(2048).keyID(kid).generate();
  }

  public static ECKey ec(String kid) throws JOSEException {
    return new ECKeyGenerator(Curve.P_256).keyID(kid).generate();
  }

  public String issuer() {
    return "http://127.0.0.1:" + server.getAddress().getPort();
  }

  /** Publishes a new signing key alone and signs with it from now on. */
  public JWK rotate(String kid) throws JOSEException {
    signing = rsa(kid);
    published.clear();
    published.add(signing);
    return signing;
  }

  /** Adds a key to the published set and signs with it. */
  public void publishAndSignWith(JWK key) {
    published.add(key);
    signing = key;
  }

  /** Makes discovery and JWKS answer 503. */
  public void down(boolean isDown) {
    down = isDown;
  }

  public int jwksFetches() {
    return jwksFetches.get();
  }

  public int discoveryFetches() {
    return discoveryFetches.get();
  }

  /** Claims of a valid token: this issuer, audience {@code api://weir}, an hour to live. */
  public JWTClaimsSet.Builder claims() {
    Instant now = Instant.now();
    return new JWTClaimsSet.Builder().issuer(issuer()).audience("api://weir").subject("user-1")
        .issueTime(Date.from(now)).notBeforeTime(Date.from(now.minusSeconds(5)))
        .expirationTime(Date.from(now.plusSeconds(3600)));
  }

  public String token(JWTClaimsSet claims) throws JOSEException {
    return sign(signing, claims);
  }

  public static String sign(JWK key, JWTClaimsSet claims) throws JOSEException {
    SignedJWT jwt;
    if (key instanceof ECKey ec) {
      jwt = new SignedJWT(new JWSHeader.Builder(JWSAlgorithm.ES256).keyID(key.getKeyID()).build(), claims);
      jwt.sign(new ECDSASigner(ec));
    } else {
      jwt = new SignedJWT(new JWSHeader.Builder(JWSAlgorithm.RS256).keyID(key.getKeyID()).build(), claims);
      jwt.sign(new RSASSASigner((RSAKey) key));
    }
    return jwt.serialize();
  }

  private void reply(HttpExchange ex, String body) throws IOException {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    ex.getResponseHeaders().set("content-type", "application/json");
    if (down) {
      ex.sendResponseHeaders(503, -1);
    } else {
      ex.sendResponseHeaders(200, bytes.length);
      ex.getResponseBody().write(bytes);
    }
    ex.close();
  }

  @Override
  public void close() {
    server.stop(0);
  }
}
