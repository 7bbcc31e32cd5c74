package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.weir.config.ApiKeys;
import dev.weir.testkit.ExchangeRequest;
import dev.weir.testkit.ExchangeResponse;
import dev.weir.testkit.ScriptedUpstream;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Headers a client must not choose never reach a provider (security finding 7): the account the
 * backend bills comes from its config; a backend forwards only what its config lets through.
 */
class ClientHeadersTest {
  static final String KEY = "sk-weir-headers-test";
  static ScriptedUpstream strict;
  static ScriptedUpstream lenient;
  static Gateway gw;

  @BeforeAll
  static void start() throws Exception {
    strict = new ScriptedUpstream("strict");
    lenient = new ScriptedUpstream("lenient");
    gw = new Gateway("""
        backends:
          - { name: strict, provider: openai, url: UPSTREAM, credential: { env: K },
              organization: org-from-config, project: proj-from-config }
          - { name: lenient, provider: openai-compatible, url: %s, forwardClientHeaders: [ Cookie ] }
        pools:
          - { name: strict, members: [ { backend: strict } ] }
          - { name: lenient, members: [ { backend: lenient } ] }
        models: [ { name: gpt-4o, pool: strict }, { name: local, pool: lenient } ]
        consumers: [ { name: c, keys: [ "%s" ], models: [ "*" ] } ]
        """.formatted(lenient.url(), ApiKeys.hash(KEY)), strict, Map.of("K", "sk-backend"));
  }

  @AfterAll
  static void stop() {
    gw.close();
    strict.close();
    lenient.close();
  }

  private static ExchangeResponse send(String model) {
    return gw.envoy.send(ExchangeRequest.post("/v1/chat/completions",
        "{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
        "authorization", "Bearer " + KEY, "openai-organization", "org-chosen-by-client",
        "openai-project", "proj-chosen-by-client", "cookie", "session=abc", "x-api-key", "sk-something",
        "proxy-authorization", "Basic eA=="));
  }

  @Test
  void clientChosenAccountAndStateNeverReachTheProvider() {
    assertEquals(200, send("gpt-4o").status());
    ScriptedUpstream.Recorded r = strict.last();
    assertEquals("org-from-config", r.header("openai-organization"));
    assertEquals("proj-from-config", r.header("openai-project"));
    assertEquals("Bearer sk-backend", r.header("authorization"));
    assertNull(r.header("cookie"));
    assertNull(r.header("x-api-key"));
    assertNull(r.header("proxy-authorization"));
  }

  @Test
  void aBackendForwardsOnlyWhatItsConfigLetsThrough() {
    assertEquals(200, send("local").status());
    ScriptedUpstream.Recorded r = lenient.last();
    assertEquals("session=abc", r.header("cookie"));
    assertNull(r.header("openai-organization"));
    assertNull(r.header("x-api-key"));
    assertNull(r.header("authorization"), "the Weir key never leaves the gateway");
  }
}
