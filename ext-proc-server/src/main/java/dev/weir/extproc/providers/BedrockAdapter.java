package dev.weir.extproc.providers;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weir.extproc.openai.Endpoint;
import dev.weir.extproc.openai.Json;
import dev.weir.extproc.openai.ParsedRequest;
import dev.weir.extproc.routing.BackendTarget;
import java.util.LinkedHashMap;
import java.util.Map;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.utils.http.SdkHttpUtils;

/**
 * AWS Bedrock's Converse API ({@code POST /model/{modelId}/converse}, and
 * {@code /converse-stream} for streamed answers), signed with AWS Signature V4. OpenAI chat
 * completions are translated to Converse and the answers back (JSON, and the AWS event-stream
 * framing of ConverseStream), so any OpenAI SDK can use Bedrock models and a pool can fail over
 * between Bedrock and OpenAI-speaking backends with the client seeing one shape.
 *
 * <p>The signature covers the final body and the path, and whether the answer streams is known
 * only from the client's body, so both are set in the body phase ({@link #headersForBody}).
 */
public final class BedrockAdapter implements ProviderAdapter {
  /** The SigV4 service name of Bedrock's runtime endpoints. */
  static final String SIGNING_SERVICE = "bedrock";

  private final AwsSigning signing;

  public BedrockAdapter() {
    this(new AwsSigning());
  }

  BedrockAdapter(AwsSigning signing) {
    this.signing = signing;
  }

  @Override
  public boolean serves(Endpoint endpoint) {
    return endpoint == Endpoint.CHAT_COMPLETIONS;
  }

  @Override
  public AttemptPlan plan(Attempt attempt) {
    Map<String, String> set = new LinkedHashMap<>();
    set.put("content-type", "application/json");
    return new AttemptPlan(path(attempt, false), set, ProviderAdapters.strippedHeaders(set, attempt.backend()), true);
  }

  @Override
  public byte[] rewriteBody(Attempt attempt, ObjectNode clientBody) {
    return Json.bytes(BedrockRequests.fromChatCompletion(clientBody));
  }

  @Override
  public Map<String, String> headersForBody(Attempt attempt, ObjectNode clientBody, byte[] body) {
    boolean stream = clientBody.path("stream").asBoolean(false);
    String path = path(attempt, stream);
    BackendTarget backend = attempt.backend();
    Map<String, String> headers = new LinkedHashMap<>();
    headers.put(":path", path);
    // The client's Accept names OpenAI's media types; ask for what Bedrock sends (not signed).
    headers.put("accept", stream ? BedrockToOpenAi.EVENT_STREAM : "application/json");
    try {
      headers.putAll(signing.sign(backend.url(), path, body, SIGNING_SERVICE, backend.region(), backend.aws()));
    } catch (SdkException e) {
      // The SDK's messages name the providers it tried, never a secret.
      throw new IllegalStateException("no AWS credentials (" + AwsSigning.describe(backend.aws())
          + ") to sign for backend \"" + backend.name() + "\": " + e.getMessage(), e);
    }
    return headers;
  }

  @Override
  public ResponseTranslator translator(ParsedRequest clientRequest, BackendTarget backend) {
    if (clientRequest.endpoint() != Endpoint.CHAT_COMPLETIONS) {
      return null;
    }
    return new BedrockToOpenAi(clientRequest.model());
  }

  /**
   * The model ID is one path segment, encoded as the AWS SDK encodes path labels: {@code :} in
   * versioned IDs and {@code /} in inference-profile ARNs become {@code %3A} and {@code %2F}.
   */
  static String path(Attempt attempt, boolean stream) {
    return attempt.backend().basePath() + "/model/" + SdkHttpUtils.urlEncode(attempt.upstreamModel())
        + (stream ? "/converse-stream" : "/converse");
  }
}
