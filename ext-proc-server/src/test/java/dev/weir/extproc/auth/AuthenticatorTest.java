package dev.weir.extproc.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.weir.config.ApiKeys;
import dev.weir.config.v1.Consumer;
import java.util.List;
import org.junit.jupiter.api.Test;

class AuthenticatorTest {
  private final Authenticator auth = new Authenticator(List.of(
      Consumer.newBuilder().setName("a").addKeys(ApiKeys.hash("sk-aaaa-1234")).addModels("m1").build(),
      Consumer.newBuilder().setName("b").addKeys(ApiKeys.hash("sk-bbbb-5678")).addModels("*").build()));

  @Test
  void bearerAndApiKeyHeadersBothIdentifyTheConsumer() {
    var viaBearer = assertInstanceOf(Authenticator.Authenticated.class, auth.authenticate("bearer sk-aaaa-1234", null));
    assertEquals("a", viaBearer.caller().name());
    var viaApiKey = assertInstanceOf(Authenticator.Authenticated.class, auth.authenticate(null, " sk-bbbb-5678 "));
    assertEquals("b", viaApiKey.caller().name());
    assertTrue(viaApiKey.caller().mayUse("anything"));
    assertTrue(!viaBearer.caller().mayUse("m2"));
  }

  @Test
  void nonBearerSchemeIsRefusedWithAHint() {
    var r = assertInstanceOf(Authenticator.Rejected.class, auth.authenticate("Basic abc", null));
    assertTrue(r.error().message().contains("Bearer"));
  }

  @Test
  void wrongKeyIsRedactedInTheMessage() {
    var r = assertInstanceOf(Authenticator.Rejected.class, auth.authenticate("Bearer sk-wrong-key-9999", null));
    assertEquals("invalid_api_key", r.error().code());
    assertTrue(r.error().message().contains("sk-****9999"), r.error().message());
  }

  @Test
  void aConsumerHoldsSeveralKeysAndAnExpiredOneIsRefused() {
    java.time.Instant now = java.time.Instant.parse("2026-06-01T12:00:00Z");
    Consumer rotating = Consumer.newBuilder().setName("r").addModels("*")
        .addKeys(ApiKeys.hash("sk-new-key-0001"))
        .addExpiringKeys(dev.weir.config.v1.ConsumerKey.newBuilder().setHash(ApiKeys.hash("sk-old-key-0002"))
            .setExpires("2026-06-01T12:00:00Z"))
        .addExpiringKeys(dev.weir.config.v1.ConsumerKey.newBuilder().setHash(ApiKeys.hash("sk-mid-key-0003"))
            .setExpires("2026-07-01T00:00:00Z"))
        .build();
    Authenticator at = new Authenticator(List.of(rotating), java.time.Clock.fixed(now, java.time.ZoneOffset.UTC));
    assertEquals("r", assertInstanceOf(Authenticator.Authenticated.class,
        at.authenticate("Bearer sk-new-key-0001", null)).caller().name());
    assertEquals("r", assertInstanceOf(Authenticator.Authenticated.class,
        at.authenticate("Bearer sk-mid-key-0003", null)).caller().name());
    var expired = assertInstanceOf(Authenticator.Rejected.class, at.authenticate("Bearer sk-old-key-0002", null));
    assertEquals(401, expired.error().status());
    assertTrue(expired.error().message().contains("expired"), expired.error().message());
    assertTrue(!expired.error().message().contains("sk-old-key-0002"), "the key itself is never echoed");
  }
}
