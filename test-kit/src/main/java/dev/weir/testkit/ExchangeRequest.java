package dev.weir.testkit;

import java.nio.charset.StandardCharsets;

/** A client request as it reaches Envoy's listener. */
public record ExchangeRequest(String method, String path, HeaderList headers, byte[] body) {
  public static ExchangeRequest post(String path, String json, String... headerPairs) {
    HeaderList h = HeaderList.of(headerPairs);
    h.set("content-type", "application/json");
    byte[] body = json.getBytes(StandardCharsets.UTF_8);
    h.set("content-length", Integer.toString(body.length));
    return new ExchangeRequest("POST", path, h, body);
  }

  public static ExchangeRequest get(String path, String... headerPairs) {
    return new ExchangeRequest("GET", path, HeaderList.of(headerPairs), new byte[0]);
  }
}
