package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.weir.config.ApiKeys;
import dev.weir.extproc.limits.ClientAddress;
import dev.weir.testkit.ExchangeRequest;
import dev.weir.testkit.ExchangeResponse;
import dev.weir.testkit.ScriptedUpstream;
import org.junit.jupiter.api.Test;

/** Limits keyed by client-ip count against Envoy's source.address, not a client's X-Forwarded-For. */
class ClientIpLimitTest {
  static final String CONFIG = """
      backends: [ { name: local, provider: openai-compatible, url: UPSTREAM } ]
      pools: [ { name: p, members: [ { backend: local } ] } ]
      models: [ { name: gpt-4o, pool: p } ]
      limits: [ { name: per-ip, key: client-ip, requestsPerMinute: 2 } ]
      consumers: [ { name: team, keys: [ "%s" ], models: [ "*" ], limits: [ per-ip ] } ]
      """.formatted(ApiKeys.hash("sk-team"));
  static final String CHAT = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

  @Test
  void forgedForwardedForDoesNotOpenAFreshBucket() throws Exception {
    try (ScriptedUpstream upstream = new ScriptedUpstream("up"); Gateway gw = new Gateway(CONFIG, upstream)) {
      int[] statuses = new int[3];
      for (int i = 0; i < 3; i++) {
        ExchangeResponse r = gw.envoy.send(ExchangeRequest.post("/v1/chat/completions", CHAT,
            "authorization", "Bearer sk-team", "x-forwarded-for", "203.0.113." + i));
        statuses[i] = r.status();
      }
      assertEquals(200, statuses[0]);
      assertEquals(200, statuses[1]);
      assertEquals(429, statuses[2], "every request came from the same peer, whatever XFF claimed");
    }
  }

  @Test
  void sourceAddressIsReducedToItsHost() {
    assertEquals("10.1.2.3", ClientAddress.fromSourceAddress("10.1.2.3:51234"));
    assertEquals("2001:db8::1", ClientAddress.fromSourceAddress("[2001:db8::1]:443"));
    assertEquals("2001:db8::1", ClientAddress.fromSourceAddress("2001:db8::1"));
    assertEquals("", ClientAddress.fromSourceAddress(null));
  }
}
