package dev.weir.testkit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import software.amazon.awssdk.eventstream.HeaderValue;
import software.amazon.awssdk.eventstream.Message;
import software.amazon.awssdk.http.SdkHttpMethod;
import software.amazon.awssdk.http.SdkHttpRequest;
import software.amazon.awssdk.http.auth.aws.signer.AwsV4HttpSigner;
import software.amazon.awssdk.identity.spi.AwsCredentialsIdentity;
import software.amazon.awssdk.identity.spi.AwsSessionCredentialsIdentity;

/**
 * The scripted upstream's AWS Bedrock runtime: Converse ({@code POST /model/{modelId}/converse},
 * JSON) and ConverseStream ({@code /converse-stream}, AWS event-stream frames built with the AWS
 * SDK's encoder). Strict like the real service about what Weir must send: a SigV4 signature that
 * the AWS SDK's signer reproduces from the received request with this dialect's credentials (else
 * 403 in Bedrock's error shape), no fields Converse does not know, alternating turns starting with
 * the user, tool blocks only with a {@code toolConfig}. Answers text, or a {@code toolUse} when the
 * request forces a tool; model IDs {@link #THROTTLED_MID_STREAM} and {@link #BAD_CHECKSUM} script a
 * stream that fails.
 */
public final class BedrockDialect {
  /** The credentials requests must be signed with (write them to a profile file for the gateway). */
  public static final String ACCESS_KEY_ID = "AKIAWEIRSCRIPTED0001";
  public static final String SECRET_ACCESS_KEY = "weirScriptedSecretKeyForSigV4Checks0000001";
  public static final String SESSION_TOKEN = "weir-scripted-session-token";
  public static final String REGION = "us-east-1";
  /** A model whose stream sends a throttlingException frame after its first text delta. */
  public static final String THROTTLED_MID_STREAM = "weir.throttled-mid-stream-v1:0";
  /** A model whose stream sends a frame with a wrong message CRC after its first text delta. */
  public static final String BAD_CHECKSUM = "weir.bad-checksum-v1:0";

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Pattern PATH = Pattern.compile(".*/model/([^/]+)/(converse|converse-stream)");
  private static final Pattern AUTHORIZATION = Pattern.compile(
      "AWS4-HMAC-SHA256 Credential=([^/]+)/(\\d{8})/([^/]+)/([^/]+)/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})");
  private static final DateTimeFormatter AMZ_DATE =
      DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'").withZone(ZoneOffset.UTC);
  private static final Set<String> CONVERSE_FIELDS = Set.of("messages", "system", "inferenceConfig",
      "toolConfig", "guardrailConfig", "additionalModelRequestFields", "additionalModelResponseFieldPaths",
      "promptVariables", "requestMetadata", "performanceConfig");
  private static final Set<String> BLOCK_KINDS = Set.of("text", "image", "document", "video", "toolUse",
      "toolResult", "guardContent", "cachePoint", "reasoningContent");

  private BedrockDialect() {}

  /** Answers a Bedrock runtime request; false when the path is not one. */
  static boolean answer(HttpExchange ex, String path, byte[] body, String text) throws IOException {
    Matcher m = PATH.matcher(path);
    if (!m.matches()) {
      return false;
    }
    String rejected = signatureProblem(ex, path, body);
    if (rejected != null) {
      sendError(ex, 403, rejected.substring(0, rejected.indexOf(':')), rejected.substring(rejected.indexOf(':') + 2));
      return true;
    }
    JsonNode request;
    try {
      request = JSON.readTree(body);
    } catch (IOException e) {
      sendError(ex, 400, "SerializationException", "The request body is not JSON.");
      return true;
    }
    String problem = problem(request);
    if (problem != null) {
      sendError(ex, 400, "ValidationException", problem);
      return true;
    }
    String modelId = java.net.URLDecoder.decode(m.group(1), StandardCharsets.UTF_8);
    String tool = forcedTool(request);
    int input = 10 + request.path("messages").size();
    if (m.group(2).equals("converse-stream")) {
      stream(ex, frames(modelId, text, tool, input));
      return true;
    }
    ObjectNode answer = JSON.createObjectNode();
    ObjectNode message = answer.putObject("output").putObject("message");
    message.put("role", "assistant");
    ArrayNode content = message.putArray("content");
    if (tool != null) {
      ObjectNode use = content.addObject().putObject("toolUse");
      use.put("toolUseId", "tooluse_scripted").put("name", tool);
      use.putObject("input").put("city", "Paris");
      answer.put("stopReason", "tool_use");
    } else {
      content.addObject().put("text", text);
      answer.put("stopReason", "end_turn");
    }
    answer.putObject("usage").put("inputTokens", input).put("outputTokens", 5).put("totalTokens", input + 7)
        .put("cacheReadInputTokens", 2).put("cacheWriteInputTokens", 0);
    answer.putObject("metrics").put("latencyMs", 12);
    ScriptedUpstream.send(ex, 200, "application/json", answer.toString());
    return true;
  }

  /** An error body in Bedrock's shape, e.g. for {@code Json(429, error("Too many requests"))}. */
  public static String error(String message) {
    return JSON.createObjectNode().put("message", message).toString();
  }

  /** An event-stream frame as ConverseStream sends it. */
  public static byte[] event(String eventType, String json) {
    Map<String, HeaderValue> headers = new LinkedHashMap<>();
    headers.put(":event-type", HeaderValue.fromString(eventType));
    headers.put(":content-type", HeaderValue.fromString("application/json"));
    headers.put(":message-type", HeaderValue.fromString("event"));
    return bytes(new Message(headers, json.getBytes(StandardCharsets.UTF_8)));
  }

  /** An exception frame, e.g. {@code exception("throttlingException", "Too many requests")}. */
  public static byte[] exception(String exceptionType, String message) {
    Map<String, HeaderValue> headers = new LinkedHashMap<>();
    headers.put(":exception-type", HeaderValue.fromString(exceptionType));
    headers.put(":content-type", HeaderValue.fromString("application/json"));
    headers.put(":message-type", HeaderValue.fromString("exception"));
    return bytes(new Message(headers, error(message).getBytes(StandardCharsets.UTF_8)));
  }

  /** The frames of a streamed text answer: one delta per part, then stop and usage. */
  public static List<byte[]> textFrames(List<String> parts, int inputTokens) {
    List<byte[]> frames = new ArrayList<>();
    frames.add(event("messageStart", "{\"role\":\"assistant\"}"));
    for (String part : parts) {
      frames.add(event("contentBlockDelta", JSON.createObjectNode().put("contentBlockIndex", 0)
          .set("delta", JSON.createObjectNode().put("text", part)).toString()));
    }
    frames.add(event("contentBlockStop", "{\"contentBlockIndex\":0}"));
    frames.add(event("messageStop", "{\"stopReason\":\"end_turn\"}"));
    frames.add(metadata(inputTokens, parts.size()));
    return frames;
  }

  private static byte[] metadata(int input, int output) {
    ObjectNode meta = JSON.createObjectNode();
    meta.putObject("usage").put("inputTokens", input).put("outputTokens", output)
        .put("totalTokens", input + output + 2).put("cacheReadInputTokens", 2);
    meta.putObject("metrics").put("latencyMs", 12);
    return event("metadata", meta.toString());
  }

  private static List<byte[]> frames(String modelId, String text, String tool, int input) {
    List<byte[]> frames;
    if (tool != null) {
      frames = new ArrayList<>();
      frames.add(event("messageStart", "{\"role\":\"assistant\"}"));
      frames.add(event("contentBlockStart", JSON.createObjectNode().put("contentBlockIndex", 0).set("start",
          JSON.createObjectNode().set("toolUse", JSON.createObjectNode().put("toolUseId", "tooluse_scripted")
              .put("name", tool))).toString()));
      for (String part : List.of("{\"city\": ", "\"Paris\"}")) {
        frames.add(event("contentBlockDelta", JSON.createObjectNode().put("contentBlockIndex", 0).set("delta",
            JSON.createObjectNode().set("toolUse", JSON.createObjectNode().put("input", part))).toString()));
      }
      frames.add(event("contentBlockStop", "{\"contentBlockIndex\":0}"));
      frames.add(event("messageStop", "{\"stopReason\":\"tool_use\"}"));
      frames.add(metadata(input, 2));
      return frames;
    }
    frames = textFrames(List.of(text.split("(?<= )")), input);
    if (modelId.equals(THROTTLED_MID_STREAM)) {
      List<byte[]> cut = new ArrayList<>(frames.subList(0, 2));
      cut.add(exception("throttlingException", "Too many requests, please wait before trying again."));
      return cut;
    }
    if (modelId.equals(BAD_CHECKSUM)) {
      List<byte[]> cut = new ArrayList<>(frames.subList(0, 3));
      byte[] corrupt = cut.get(2);
      corrupt[corrupt.length - 1] ^= 0x5a; // the message CRC no longer matches
      return cut;
    }
    return frames;
  }

  private static byte[] bytes(Message message) {
    ByteBuffer buffer = message.toByteBuffer();
    byte[] out = new byte[buffer.remaining()];
    buffer.get(out);
    return out;
  }

  static void stream(HttpExchange ex, List<byte[]> frames) throws IOException {
    ex.getResponseHeaders().set("content-type", "application/vnd.amazon.eventstream");
    ex.getResponseHeaders().set("x-amzn-requestid", "scripted-request-id");
    ex.sendResponseHeaders(200, 0);
    try (OutputStream out = ex.getResponseBody()) {
      for (byte[] frame : frames) {
        out.write(frame);
        out.flush();
      }
    }
  }

  private static void sendError(HttpExchange ex, int status, String type, String message) throws IOException {
    ex.getResponseHeaders().set("x-amzn-errortype", type + ":http://internal.amazon.com/coral/com.amazon.bedrock/");
    ScriptedUpstream.send(ex, status, "application/json", error(message));
  }

  /**
   * Why the request's SigV4 signature is refused ("ExceptionName: message"), or null when the AWS
   * SDK's signer, given this dialect's credentials and the request's own date, headers, path and
   * body, computes the very same Authorization header.
   */
  static String signatureProblem(HttpExchange ex, String path, byte[] body) {
    String authorization = ex.getRequestHeaders().getFirst("authorization");
    String amzDate = ex.getRequestHeaders().getFirst("x-amz-date");
    if (authorization == null || amzDate == null) {
      return "MissingAuthenticationTokenException: Missing Authentication Token";
    }
    Matcher a = AUTHORIZATION.matcher(authorization);
    if (!a.matches()) {
      return "IncompleteSignatureException: Authorization header requires Credential, SignedHeaders and Signature.";
    }
    String token = ex.getRequestHeaders().getFirst("x-amz-security-token");
    if (!a.group(1).equals(ACCESS_KEY_ID) || token != null && !token.equals(SESSION_TOKEN)) {
      return "UnrecognizedClientException: The security token included in the request is invalid.";
    }
    if (!a.group(3).equals(REGION) || !a.group(4).equals("bedrock")) {
      return "InvalidSignatureException: Credential should be scoped to a valid region and service bedrock.";
    }
    Instant signedAt;
    try {
      signedAt = Instant.from(AMZ_DATE.parse(amzDate));
    } catch (DateTimeParseException e) {
      return "IncompleteSignatureException: x-amz-date is not a basic ISO 8601 time.";
    }
    if (Duration.between(signedAt, Instant.now()).abs().compareTo(Duration.ofMinutes(5)) > 0) {
      return "InvalidSignatureException: Signature expired: " + amzDate + " is more than 5 minutes from now.";
    }
    String host = ex.getRequestHeaders().getFirst("host");
    int colon = host.lastIndexOf(':');
    SdkHttpRequest.Builder request = SdkHttpRequest.builder().method(SdkHttpMethod.POST).protocol("http")
        .host(colon > 0 ? host.substring(0, colon) : host)
        .port(colon > 0 ? Integer.parseInt(host.substring(colon + 1)) : null)
        .encodedPath(path);
    // The signer adds host, x-amz-date and the token itself; every other signed header is copied.
    Set<String> own = Set.of("host", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256");
    for (String name : a.group(5).split(";")) {
      String value = ex.getRequestHeaders().getFirst(name);
      if (value == null) {
        return "InvalidSignatureException: Signed header " + name + " is missing from the request.";
      }
      if (!own.contains(name.toLowerCase(Locale.ROOT))) {
        request.putHeader(name, value);
      }
    }
    AwsCredentialsIdentity identity = token == null ? AwsCredentialsIdentity.create(ACCESS_KEY_ID, SECRET_ACCESS_KEY)
        : AwsSessionCredentialsIdentity.create(ACCESS_KEY_ID, SECRET_ACCESS_KEY, token);
    String expected = AwsV4HttpSigner.create().sign(r -> r.identity(identity)
            .request(request.build())
            .payload(() -> new ByteArrayInputStream(body))
            .putProperty(AwsV4HttpSigner.SERVICE_SIGNING_NAME, "bedrock")
            .putProperty(AwsV4HttpSigner.REGION_NAME, REGION)
            .putProperty(AwsV4HttpSigner.SIGNING_CLOCK, Clock.fixed(signedAt, ZoneOffset.UTC)))
        .request().firstMatchingHeader("authorization").orElse("");
    if (!expected.equals(authorization)) {
      return "InvalidSignatureException: The request signature we calculated does not match the signature"
          + " you provided. Check your AWS Secret Access Key and signing method.";
    }
    return null;
  }

  /** What real Converse would refuse with a ValidationException, or null. */
  private static String problem(JsonNode request) {
    for (var names = request.fieldNames(); names.hasNext(); ) {
      String name = names.next();
      if (!CONVERSE_FIELDS.contains(name)) {
        return "Malformed input request: extraneous key [" + name + "] is not permitted, please reformat your input and try again.";
      }
    }
    JsonNode messages = request.path("messages");
    if (!messages.isArray() || messages.isEmpty()) {
      return "A conversation must start with a user message.";
    }
    String expected = "user";
    boolean tools = request.has("toolConfig");
    for (JsonNode m : messages) {
      if (!expected.equals(m.path("role").asText())) {
        return "A conversation must alternate between user and assistant roles.";
      }
      expected = expected.equals("user") ? "assistant" : "user";
      for (JsonNode block : m.path("content")) {
        if (block.size() != 1 || !BLOCK_KINDS.contains(block.fieldNames().next())) {
          return "A content block must have exactly one of: " + BLOCK_KINDS;
        }
        if ((block.has("toolUse") || block.has("toolResult")) && !tools) {
          return "The toolConfig field must be defined when using toolUse and toolResult content blocks.";
        }
      }
    }
    JsonNode max = request.path("inferenceConfig").path("maxTokens");
    if (!max.isMissingNode() && max.asInt() < 1) {
      return "inferenceConfig.maxTokens must be at least 1.";
    }
    return null;
  }

  private static String forcedTool(JsonNode request) {
    JsonNode choice = request.path("toolConfig").path("toolChoice");
    if (choice.has("tool")) {
      return choice.path("tool").path("name").asText();
    }
    if (choice.has("any")) {
      return request.path("toolConfig").path("tools").path(0).path("toolSpec").path("name").asText();
    }
    return null;
  }
}
