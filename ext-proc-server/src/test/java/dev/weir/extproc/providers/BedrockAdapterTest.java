package dev.weir.extproc.providers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weir.config.v1.AwsCredentials;
import dev.weir.config.v1.PoolMember;
import dev.weir.config.v1.Provider;
import dev.weir.extproc.openai.Endpoint;
import dev.weir.extproc.openai.Json;
import dev.weir.extproc.routing.BackendTarget;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.auth.credentials.EnvironmentVariableCredentialsProvider;
import software.amazon.awssdk.auth.credentials.ProfileCredentialsProvider;
import software.amazon.awssdk.auth.credentials.WebIdentityTokenFileCredentialsProvider;

/** The Bedrock adapter fed raw OpenAI request bodies: the Converse body, path and signature. */
class BedrockAdapterTest {
  private final BedrockAdapter adapter = new BedrockAdapter();

  private static Attempt attempt(String url, String model, AwsCredentials aws) {
    BackendTarget backend = new BackendTarget("br", Provider.BEDROCK, URI.create(url), "", null, 0, "eu-west-1", aws);
    return new Attempt(Endpoint.CHAT_COMPLETIONS, null, backend, PoolMember.newBuilder().setModel(model).build(), "claude");
  }

  private static ObjectNode body(String json) throws Exception {
    return (ObjectNode) Json.MAPPER.readTree(json);
  }

  private JsonNode converse(String openAiJson) throws Exception {
    Attempt a = attempt("https://bedrock-runtime.eu-west-1.amazonaws.com", "m", AwsCredentials.getDefaultInstance());
    return Json.MAPPER.readTree(adapter.rewriteBody(a, body(openAiJson)));
  }

  @Test
  void systemMessagesImagesAndInferenceSettingsMapToConverse() throws Exception {
    JsonNode c = converse("""
        {"model":"claude","max_tokens":64,"temperature":0.2,"top_p":0.9,"stop":["X","Y"],"stream":true,
         "n":1,"seed":7,"stream_options":{"include_usage":true},
         "messages":[{"role":"system","content":"Be brief."},{"role":"developer","content":"Use French."},
           {"role":"user","content":[{"type":"text","text":"What is this?"},
             {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0K"}},
             {"type":"image_url","image_url":{"url":"https://example.com/cat.jpg"}}]},
           {"role":"user","content":"Answer in one word."}]}""");
    assertEquals("[{\"text\":\"Be brief.\"},{\"text\":\"Use French.\"}]", c.path("system").toString());
    assertEquals("{\"maxTokens\":64,\"temperature\":0.2,\"topP\":0.9,\"stopSequences\":[\"X\",\"Y\"]}",
        c.path("inferenceConfig").toString());
    JsonNode messages = c.path("messages");
    assertEquals(1, messages.size(), "consecutive user turns merge: Converse wants them to alternate");
    JsonNode content = messages.get(0).path("content");
    assertEquals("What is this?", content.get(0).path("text").asText());
    assertEquals("{\"format\":\"png\",\"source\":{\"bytes\":\"iVBORw0K\"}}", content.get(1).path("image").toString());
    assertEquals("[image: https://example.com/cat.jpg]", content.get(2).path("text").asText(),
        "Converse takes image bytes only; a URL is named, not silently lost");
    assertEquals("Answer in one word.", content.get(3).path("text").asText());
    for (String field : List.of("model", "stream", "n", "seed", "stream_options", "max_tokens")) {
      assertFalse(c.has(field), field + " is not a Converse field");
    }
  }

  @Test
  void toolsToolChoiceToolUseAndToolResultMapToConverseBlocks() throws Exception {
    JsonNode c = converse("""
        {"model":"claude","tool_choice":{"type":"function","function":{"name":"get_weather"}},
         "tools":[{"type":"function","function":{"name":"get_weather","description":"Weather",
                   "parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],
         "messages":[{"role":"user","content":"Weather in Paris?"},
           {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",
              "function":{"name":"get_weather","arguments":"{\\"city\\":\\"Paris\\"}"}}]},
           {"role":"tool","tool_call_id":"call_1","content":"18 C"}]}""");
    JsonNode tool = c.path("toolConfig").path("tools").get(0).path("toolSpec");
    assertEquals("get_weather", tool.path("name").asText());
    assertEquals("Weather", tool.path("description").asText());
    assertEquals("string", tool.path("inputSchema").path("json").path("properties").path("city").path("type").asText());
    assertEquals("{\"tool\":{\"name\":\"get_weather\"}}", c.path("toolConfig").path("toolChoice").toString());
    assertEquals("{\"toolUse\":{\"toolUseId\":\"call_1\",\"name\":\"get_weather\",\"input\":{\"city\":\"Paris\"}}}",
        c.path("messages").get(1).path("content").get(0).toString());
    assertEquals("{\"toolResult\":{\"toolUseId\":\"call_1\",\"content\":[{\"text\":\"18 C\"}]}}",
        c.path("messages").get(2).path("content").get(0).toString());
    assertEquals("user", c.path("messages").get(2).path("role").asText());
  }

  @Test
  void toolChoiceRequiredIsAnyAndNoneWithoutHistorySendsNoTools() throws Exception {
    String tools = "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],"
        + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]";
    assertEquals("{\"any\":{}}", converse("{\"tool_choice\":\"required\"," + tools + "}")
        .path("toolConfig").path("toolChoice").toString());
    assertEquals("{\"auto\":{}}", converse("{" + tools + "}").path("toolConfig").path("toolChoice").toString());
    assertFalse(converse("{\"tool_choice\":\"none\"," + tools + "}").has("toolConfig"));
  }

  @Test
  void pathNamesTheEncodedModelIdAndStreamsWhenTheClientDoes() throws Exception {
    Attempt a = attempt("https://bedrock-runtime.eu-west-1.amazonaws.com", "anthropic.claude-3-haiku-20240307-v1:0",
        AwsCredentials.getDefaultInstance());
    AttemptPlan plan = adapter.plan(a);
    assertEquals("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse", plan.path());
    assertTrue(plan.rewritesBody());
    assertEquals(Map.of("content-type", "application/json"), plan.setHeaders());
    assertTrue(plan.removeHeaders().containsAll(List.of("authorization", "api-key", "x-amz-security-token")));
    Attempt arn = attempt("https://bedrock-runtime.eu-west-1.amazonaws.com",
        "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-3-haiku-20240307-v1:0",
        AwsCredentials.getDefaultInstance());
    assertEquals("/model/arn%3Aaws%3Abedrock%3Aeu-west-1%3A123456789012%3Ainference-profile%2Feu.anthropic"
        + ".claude-3-haiku-20240307-v1%3A0/converse-stream", BedrockAdapter.path(arn, true));
  }

  @Test
  void signsTheFinalBodyPathAndHostWithProfileCredentials(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("credentials");
    Files.writeString(file, "[p]\naws_access_key_id = AKIDUNITTEST\naws_secret_access_key = s3cr3t\n"
        + "aws_session_token = tok\n");
    AwsCredentials aws = AwsCredentials.newBuilder().setProfile("p").setProfileFile(file.toString()).build();
    Attempt a = attempt("https://bedrock-runtime.eu-west-1.amazonaws.com", "m", aws);
    ObjectNode client = body("{\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    byte[] converse = adapter.rewriteBody(a, client);
    Map<String, String> headers = adapter.headersForBody(a, client, converse);
    assertEquals("/model/m/converse-stream", headers.get(":path"));
    assertEquals("application/vnd.amazon.eventstream", headers.get("accept"));
    String authorization = headers.get("authorization");
    assertTrue(authorization.matches("AWS4-HMAC-SHA256 Credential=AKIDUNITTEST/\\d{8}/eu-west-1/bedrock/aws4_request,"
        + " SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}"),
        authorization);
    assertEquals(java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(converse)),
        headers.get("x-amz-content-sha256"), "the signature covers the translated body");
    assertEquals("tok", headers.get("x-amz-security-token"));
    assertTrue(headers.get("x-amz-date").matches("\\d{8}T\\d{6}Z"), headers.get("x-amz-date"));
    assertFalse(headers.values().stream().anyMatch(v -> v.contains("s3cr3t")), "the secret never leaves the signer");
  }

  @Test
  void missingCredentialsFailTheAttemptNamingTheBackendNotASecret(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("credentials");
    Files.writeString(file, "[other]\naws_access_key_id = AKIDUNITTEST\naws_secret_access_key = s3cr3t\n");
    AwsCredentials aws = AwsCredentials.newBuilder().setProfile("absent").setProfileFile(file.toString()).build();
    Attempt a = attempt("https://bedrock-runtime.eu-west-1.amazonaws.com", "m", aws);
    ObjectNode client = body("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> adapter.headersForBody(a, client, adapter.rewriteBody(a, client)));
    assertTrue(e.getMessage().contains("backend \"br\""), e.getMessage());
    assertFalse(e.getMessage().contains("s3cr3t"), e.getMessage());
  }

  @Test
  void eachCredentialSourceIsTheAwsSdksProvider(@TempDir Path dir) throws Exception {
    assertInstanceOf(EnvironmentVariableCredentialsProvider.class,
        AwsSigning.newProvider(AwsCredentials.newBuilder().setEnv(true).build()));
    assertInstanceOf(ProfileCredentialsProvider.class,
        AwsSigning.newProvider(AwsCredentials.newBuilder().setProfile("prod").build()));
    Path token = Files.writeString(dir.resolve("token"), "eyJ.test.token");
    assertInstanceOf(WebIdentityTokenFileCredentialsProvider.class, AwsSigning.newProvider(AwsCredentials.newBuilder()
        .setWebIdentityTokenFile(token.toString()).setRoleArn("arn:aws:iam::123456789012:role/weir").build()));
    assertInstanceOf(DefaultCredentialsProvider.class, AwsSigning.newProvider(AwsCredentials.getDefaultInstance()));
    AwsSigning signing = new AwsSigning();
    AwsCredentials prod = AwsCredentials.newBuilder().setProfile("prod").build();
    assertTrue(signing.provider(prod) == signing.provider(prod.toBuilder().build()),
        "one provider (and its cached credentials) per source, across config reloads");
  }

  @Test
  void onlyChatCompletionsAreServed() {
    assertTrue(adapter.serves(Endpoint.CHAT_COMPLETIONS));
    assertFalse(adapter.serves(Endpoint.EMBEDDINGS));
    assertFalse(adapter.serves(Endpoint.COMPLETIONS));
  }
}
