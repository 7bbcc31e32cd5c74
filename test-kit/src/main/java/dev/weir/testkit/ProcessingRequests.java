package dev.weir.testkit;

import com.google.protobuf.ByteString;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.envoyproxy.envoy.config.core.v3.HeaderMap;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

/**
 * Raw ext_proc messages as Envoy sends them (header values in {@code raw_value}, attributes under
 * the filter's namespace), and readers of the answers: for unit tests that feed one exchange's
 * messages to a stage or pass without any server.
 */
public final class ProcessingRequests {
  /** The namespace Envoy puts requested attributes under (ext_proc's filter name). */
  public static final String ATTRIBUTES = "envoy.filters.http.ext_proc";

  private ProcessingRequests() {}

  /** Request headers from name/value pairs; {@code endOfStream} when there is no body. */
  public static ProcessingRequest requestHeaders(boolean endOfStream, String... nameValues) {
    return ProcessingRequest.newBuilder().setRequestHeaders(HttpHeaders.newBuilder()
        .setHeaders(headers(nameValues)).setEndOfStream(endOfStream)).build();
  }

  /** A POST of a JSON body to {@code path} with a bearer key (null: no credential). */
  public static ProcessingRequest post(String path, String bearerKey) {
    return bearerKey == null
        ? requestHeaders(false, ":method", "POST", ":path", path, "content-type", "application/json")
        : requestHeaders(false, ":method", "POST", ":path", path, "content-type", "application/json",
            "authorization", "Bearer " + bearerKey);
  }

  public static ProcessingRequest requestBody(String body) {
    return ProcessingRequest.newBuilder().setRequestBody(HttpBody.newBuilder()
        .setBody(ByteString.copyFromUtf8(body)).setEndOfStream(true)).build();
  }

  /** Response headers, with the answering host's backend as the response attribute Weir asks for. */
  public static ProcessingRequest responseHeaders(int status, String contentType, String backendAttribute,
      String backend) {
    ProcessingRequest.Builder b = ProcessingRequest.newBuilder().setResponseHeaders(HttpHeaders.newBuilder()
        .setHeaders(headers(":status", Integer.toString(status), "content-type", contentType)));
    if (backend != null) {
      b.putAttributes(ATTRIBUTES, Struct.newBuilder()
          .putFields(backendAttribute, Value.newBuilder().setStringValue(backend).build()).build());
    }
    return b.build();
  }

  public static ProcessingRequest responseBody(String chunk, boolean endOfStream) {
    return ProcessingRequest.newBuilder().setResponseBody(HttpBody.newBuilder()
        .setBody(ByteString.copyFromUtf8(chunk)).setEndOfStream(endOfStream)).build();
  }

  private static HeaderMap headers(String... nameValues) {
    HeaderMap.Builder map = HeaderMap.newBuilder();
    for (int i = 0; i + 1 < nameValues.length; i += 2) {
      map.addHeaders(HeaderValue.newBuilder().setKey(nameValues[i])
          .setRawValue(ByteString.copyFromUtf8(nameValues[i + 1])));
    }
    return map.build();
  }

  // --- reading answers ---

  /** The status of an immediate response, or 0 when the answer continues the exchange. */
  public static int immediateStatus(ProcessingResponse r) {
    return r.hasImmediateResponse() ? r.getImmediateResponse().getStatus().getCodeValue() : 0;
  }

  public static String immediateBody(ProcessingResponse r) {
    return r.getImmediateResponse().getBody().toString(StandardCharsets.UTF_8);
  }

  /** Headers the answer sets (name → value), whichever phase it answers. */
  public static Map<String, String> setHeaders(ProcessingResponse r) {
    Map<String, String> out = new HashMap<>();
    var mutation = common(r).getHeaderMutation();
    mutation.getSetHeadersList().forEach(h -> out.put(h.getHeader().getKey(),
        h.getHeader().getRawValue().isEmpty() ? h.getHeader().getValue() : h.getHeader().getRawValue().toStringUtf8()));
    if (r.hasImmediateResponse()) {
      r.getImmediateResponse().getHeaders().getSetHeadersList().forEach(h -> out.put(h.getHeader().getKey(),
          h.getHeader().getRawValue().isEmpty() ? h.getHeader().getValue() : h.getHeader().getRawValue().toStringUtf8()));
    }
    return out;
  }

  public static java.util.List<String> removedHeaders(ProcessingResponse r) {
    return common(r).getHeaderMutation().getRemoveHeadersList();
  }

  /** The replacement body, or null when the answer leaves the body alone. */
  public static String replacedBody(ProcessingResponse r) {
    var common = common(r);
    return common.hasBodyMutation() ? common.getBodyMutation().getBody().toString(StandardCharsets.UTF_8) : null;
  }

  public static boolean clearsRouteCache(ProcessingResponse r) {
    return common(r).getClearRouteCache();
  }

  private static io.envoyproxy.envoy.service.ext_proc.v3.CommonResponse common(ProcessingResponse r) {
    return switch (r.getResponseCase()) {
      case REQUEST_HEADERS -> r.getRequestHeaders().getResponse();
      case RESPONSE_HEADERS -> r.getResponseHeaders().getResponse();
      case REQUEST_BODY -> r.getRequestBody().getResponse();
      case RESPONSE_BODY -> r.getResponseBody().getResponse();
      default -> io.envoyproxy.envoy.service.ext_proc.v3.CommonResponse.getDefaultInstance();
    };
  }
}
