package dev.weir.admin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Actions need the admin token and a same-site request; probes stay open. */
class AdminHttpTest {
  final AtomicReference<String> token = new AtomicReference<>("s3cret-admin-token");
  final AtomicInteger reloads = new AtomicInteger();
  final HttpClient http = HttpClient.newHttpClient();
  AdminHttp admin;

  String base() throws Exception {
    if (admin == null) {
      admin = new AdminHttp("127.0.0.1", 0, token::get)
          .probe("/metrics", () -> AdminHttp.Answer.text(200, "weir_up 1\n"))
          .page("/status", () -> AdminHttp.Answer.text(200, "fine\n"))
          .data("/data", q -> AdminHttp.Answer.json(200, "{\"limit\":\"" + q.getOrDefault("limit", "none") + "\"}"))
          .asset("/console/", path -> AdminHttp.Answer.text(200, "page " + path + "\n"))
          .action("/reload", r -> {
            reloads.incrementAndGet();
            return AdminHttp.Answer.text(200, "reloaded\n");
          })
          .start();
    }
    return "http://127.0.0.1:" + admin.port();
  }

  @AfterEach
  void stop() {
    if (admin != null) {
      admin.close();
    }
  }

  HttpResponse<String> post(String path, String... headers) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base() + path)).POST(HttpRequest.BodyPublishers.noBody());
    for (int i = 0; i < headers.length; i += 2) {
      b.header(headers[i], headers[i + 1]);
    }
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void actionWithTheTokenRuns() throws Exception {
    assertEquals(200, post("/reload", "Authorization", "Bearer s3cret-admin-token").statusCode());
    assertEquals(1, reloads.get());
  }

  @Test
  void actionWithoutOrWithAWrongTokenIs401AndDoesNothing() throws Exception {
    HttpResponse<String> none = post("/reload");
    assertEquals(401, none.statusCode());
    assertTrue(none.headers().firstValue("www-authenticate").orElse("").startsWith("Bearer"));
    assertEquals(401, post("/reload", "Authorization", "Bearer s3cret-admin-tokeN").statusCode());
    assertEquals(401, post("/reload", "Authorization", "Basic czNjcmV0").statusCode());
    assertEquals(0, reloads.get());
  }

  @Test
  void withNoTokenConfiguredActionsAreRefusedAndSayHowToSetOne() throws Exception {
    token.set(null);
    HttpResponse<String> r = post("/reload", "Authorization", "Bearer anything");
    assertEquals(403, r.statusCode());
    assertTrue(r.body().contains("security.adminToken"), r.body());
    assertEquals(0, reloads.get());
  }

  @Test
  void crossSiteRequestsAreRefusedEvenWithTheToken() throws Exception {
    String auth = "Bearer s3cret-admin-token";
    assertEquals(403, post("/reload", "Authorization", auth, "Origin", "https://evil.example").statusCode());
    assertEquals(403, post("/reload", "Authorization", auth, "Sec-Fetch-Site", "cross-site").statusCode());
    assertEquals(415, post("/reload", "Authorization", auth, "Content-Type",
        "application/x-www-form-urlencoded").statusCode());
    assertEquals(415, post("/reload", "Authorization", auth, "Content-Type", "text/plain").statusCode());
    assertEquals(0, reloads.get());
    String self = base().substring("http://".length());
    assertEquals(200, post("/reload", "Authorization", auth, "Origin", "http://" + self).statusCode(),
        "a same-origin request is fine");
  }

  @Test
  void actionsAreNotReachableByGetAndNoCorsHeadersAreSent() throws Exception {
    HttpResponse<String> get = http.send(HttpRequest.newBuilder(URI.create(base() + "/reload")).build(),
        HttpResponse.BodyHandlers.ofString());
    assertEquals(405, get.statusCode());
    HttpResponse<String> preflight = http.send(HttpRequest.newBuilder(URI.create(base() + "/reload"))
        .method("OPTIONS", HttpRequest.BodyPublishers.noBody()).header("Origin", "https://evil.example")
        .header("Access-Control-Request-Method", "POST").build(), HttpResponse.BodyHandlers.ofString());
    assertFalse(preflight.headers().firstValue("access-control-allow-origin").isPresent());
    assertEquals(0, reloads.get());
  }

  @Test
  void probesAndPagesAreOpenOnLoopback() throws Exception {
    assertEquals(200, http.send(HttpRequest.newBuilder(URI.create(base() + "/metrics")).build(),
        HttpResponse.BodyHandlers.ofString()).statusCode());
    assertEquals(200, http.send(HttpRequest.newBuilder(URI.create(base() + "/status")).build(),
        HttpResponse.BodyHandlers.ofString()).statusCode());
  }

  @Test
  void tokenComparisonIgnoresNothingButEquality() {
    assertTrue(AdminHttp.tokensEqual("abc", "abc"));
    assertFalse(AdminHttp.tokensEqual("abc", "abcd"));
    assertFalse(AdminHttp.tokensEqual("", "abc"));
  }

  HttpResponse<String> get(String path, String... headers) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base() + path)).GET();
    for (int i = 0; i < headers.length; i += 2) {
      b.header(headers[i], headers[i + 1]);
    }
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void dataNeedsTheTokenWhenOneIsConfiguredEvenOnLoopback() throws Exception {
    assertEquals(401, get("/data?limit=5").statusCode());
    HttpResponse<String> ok = get("/data?limit=5&limit=7&x=a%20b", "Authorization", "Bearer s3cret-admin-token");
    assertEquals(200, ok.statusCode());
    assertEquals("{\"limit\":\"5\"}", ok.body());
  }

  @Test
  void dataIsOpenOnLoopbackWhileNoTokenIsConfigured() throws Exception {
    token.set(null);
    assertEquals(200, get("/data").statusCode());
    assertEquals("{\"limit\":\"none\"}", get("/data").body());
  }

  @Test
  void assetsAreOpenAndEveryAnswerForbidsFramingAndForeignScripts() throws Exception {
    HttpResponse<String> r = get("/console/app.js");
    assertEquals(200, r.statusCode());
    assertEquals("page /console/app.js\n", r.body());
    assertEquals("DENY", r.headers().firstValue("x-frame-options").orElse(""));
    String csp = r.headers().firstValue("content-security-policy").orElse("");
    assertTrue(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), csp);
  }

}
