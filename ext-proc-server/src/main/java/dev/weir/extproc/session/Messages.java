package dev.weir.extproc.session;

import com.google.protobuf.ByteString;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import dev.weir.extproc.openai.ApiError;
import io.envoyproxy.envoy.config.core.v3.HeaderMap;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.CommonResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HeaderMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ImmediateResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.type.v3.HttpStatus;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

/** Reading Envoy's ext_proc requests and building the answers; protocol plumbing only, no policy. */
public final class Messages {
  private Messages() {}

  /**
   * Headers as a lower-cased name → first value map. Envoy sends values in {@code raw_value}
   * (bytes) in current versions and in {@code value} in older ones; read both.
   */
  public static Map<String, String> headers(HeaderMap map) {
    Map<String, String> out = new HashMap<>(map.getHeadersCount() * 2);
    for (HeaderValue h : map.getHeadersList()) {
      String value = h.getRawValue().isEmpty() ? h.getValue() : h.getRawValue().toStringUtf8();
      out.putIfAbsent(h.getKey().toLowerCase(Locale.ROOT), value);
    }
    return out;
  }

  /** A string attribute Envoy sent under the ext_proc namespace, or null. */
  public static String attribute(ProcessingRequest request, String name) {
    Struct attributes = request.getAttributesMap().get(GatewayHeaders.ATTRIBUTES_NAMESPACE);
    if (attributes == null) {
      return null;
    }
    Value value = attributes.getFieldsMap().get(name);
    if (value == null || value.getKindCase() != Value.KindCase.STRING_VALUE) {
      return null;
    }
    return value.getStringValue();
  }

  public static HeaderValueOption set(String name, String value) {
    return HeaderValueOption.newBuilder()
        .setHeader(HeaderValue.newBuilder().setKey(name).setRawValue(ByteString.copyFromUtf8(value)))
        .setAppendAction(HeaderValueOption.HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD)
        .build();
  }

  public static ProcessingResponse requestHeaders(CommonResponse common) {
    return ProcessingResponse.newBuilder()
        .setRequestHeaders(HeadersResponse.newBuilder().setResponse(common)).build();
  }

  public static ProcessingResponse requestHeaders(CommonResponse common, ProcessingMode override) {
    return ProcessingResponse.newBuilder()
        .setRequestHeaders(HeadersResponse.newBuilder().setResponse(common))
        .setModeOverride(override).build();
  }

  public static ProcessingResponse requestBody(CommonResponse common) {
    return ProcessingResponse.newBuilder()
        .setRequestBody(BodyResponse.newBuilder().setResponse(common)).build();
  }

  public static ProcessingResponse responseHeaders(CommonResponse common) {
    return ProcessingResponse.newBuilder()
        .setResponseHeaders(HeadersResponse.newBuilder().setResponse(common)).build();
  }

  public static ProcessingResponse responseHeaders(CommonResponse common, ProcessingMode override) {
    return ProcessingResponse.newBuilder()
        .setResponseHeaders(HeadersResponse.newBuilder().setResponse(common))
        .setModeOverride(override).build();
  }

  public static ProcessingResponse responseBody(CommonResponse common) {
    return ProcessingResponse.newBuilder()
        .setResponseBody(BodyResponse.newBuilder().setResponse(common)).build();
  }

  /** Answers a phase "continue unchanged" — the cheapest reply, by phase. */
  public static ProcessingResponse continueUnchanged(ProcessingRequest request) {
    CommonResponse common = CommonResponse.getDefaultInstance();
    return switch (request.getRequestCase()) {
      case REQUEST_HEADERS -> requestHeaders(common);
      case REQUEST_BODY -> requestBody(common);
      case RESPONSE_HEADERS -> responseHeaders(common);
      case RESPONSE_BODY -> responseBody(common);
      case REQUEST_TRAILERS -> ProcessingResponse.newBuilder().setRequestTrailers(
          io.envoyproxy.envoy.service.ext_proc.v3.TrailersResponse.getDefaultInstance()).build();
      case RESPONSE_TRAILERS -> ProcessingResponse.newBuilder().setResponseTrailers(
          io.envoyproxy.envoy.service.ext_proc.v3.TrailersResponse.getDefaultInstance()).build();
      case REQUEST_NOT_SET -> throw new IllegalArgumentException("empty ProcessingRequest");
    };
  }

  public static CommonResponse replaceBody(byte[] body, HeaderMutation.Builder headers) {
    headers.addSetHeaders(set("content-length", Integer.toString(body.length)));
    return CommonResponse.newBuilder()
        .setHeaderMutation(headers)
        .setBodyMutation(BodyMutation.newBuilder().setBody(ByteString.copyFrom(body)))
        .build();
  }

  /** An immediate answer in OpenAI's error shape; {@code extra} headers are added to it. */
  public static ProcessingResponse immediate(ApiError error, Map<String, String> extra) {
    return immediate(error.status(), error.toJson(), "weir_" + error.code(), extra);
  }

  public static ProcessingResponse immediate(int status, byte[] json, String details,
      Map<String, String> extra) {
    HeaderMutation.Builder headers = HeaderMutation.newBuilder();
    // Envoy applies these to its local reply's headers after making them (ext_proc.cc,
    // Filter::sendImmediateResponse → sendLocalReply's modify_headers), so a content-type given
    // here (an SSE replay of a cache hit) replaces the default one.
    if (!extra.containsKey("content-type")) {
      headers.addSetHeaders(set("content-type", "application/json"));
    }
    extra.forEach((k, v) -> headers.addSetHeaders(set(k, v)));
    return ProcessingResponse.newBuilder().setImmediateResponse(ImmediateResponse.newBuilder()
        .setStatus(HttpStatus.newBuilder().setCodeValue(status))
        .setHeaders(headers)
        .setBody(ByteString.copyFrom(json))
        .setDetails(details.replaceAll("[^A-Za-z0-9_]", "_")))
        .build();
  }

  public static String utf8(ByteString bytes) {
    return bytes.toString(StandardCharsets.UTF_8);
  }
}
