package dev.weir.testkit;

import java.nio.charset.StandardCharsets;

/**
 * A client request as it reaches Envoy's listener. {@code dynamicMetadata} stands for what filters
 * before ext_proc wrote (e.g. jwt_authn's verified claims); Envoy forwards the namespaces the
 * ext_proc filter lists in {@code metadata_options.forwarding_namespaces}.
 */
public record ExchangeRequest(String method, String path, HeaderList headers, byte[] body,
    io.envoyproxy.envoy.config.core.v3.Metadata dynamicMetadata) {

  public ExchangeRequest(String method, String path, HeaderList headers, byte[] body) {
    this(method, path, headers, body, io.envoyproxy.envoy.config.core.v3.Metadata.getDefaultInstance());
  }

  /** The same request with a verified JWT payload in jwt_authn's metadata (payload_in_metadata). */
  public ExchangeRequest withJwtClaims(java.util.Map<String, String> claims) {
    com.google.protobuf.Struct.Builder payload = com.google.protobuf.Struct.newBuilder();
    claims.forEach((k, v) -> payload.putFields(k, com.google.protobuf.Value.newBuilder().setStringValue(v).build()));
    return new ExchangeRequest(method, path, headers, body, dynamicMetadata.toBuilder()
        .putFilterMetadata("envoy.filters.http.jwt_authn", com.google.protobuf.Struct.newBuilder()
            .putFields("jwt_payload", com.google.protobuf.Value.newBuilder().setStructValue(payload).build()).build())
        .build());
  }

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
