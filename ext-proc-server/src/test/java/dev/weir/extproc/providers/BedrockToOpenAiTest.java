package dev.weir.extproc.providers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.weir.extproc.openai.Json;
import dev.weir.testkit.BedrockDialect;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The Bedrock translator fed raw Converse bodies and raw event-stream frames. */
class BedrockToOpenAiTest {
  private static byte[] concat(List<byte[]> frames) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    frames.forEach(out::writeBytes);
    return out.toByteArray();
  }

  /** Feeds the bytes in pieces of {@code size}, as Envoy's chunks may cut frames anywhere. */
  private static List<String> feed(BedrockToOpenAi t, byte[] bytes, int size, boolean end) {
    List<String> out = new ArrayList<>();
    for (int i = 0; i < bytes.length; i += size) {
      int to = Math.min(bytes.length, i + size);
      out.addAll(t.translateStream(Arrays.copyOfRange(bytes, i, to), end && to == bytes.length));
    }
    return out;
  }

  private static JsonNode json(String s) throws Exception {
    return Json.MAPPER.readTree(s);
  }

  @Test
  void framesCutAnywhereBecomeChunksAFinishReasonAUsageChunkAndDone() throws Exception {
    BedrockToOpenAi t = new BedrockToOpenAi("claude");
    assertTrue(t.streams(200, "application/vnd.amazon.eventstream"));
    List<String> out = feed(t, concat(BedrockDialect.textFrames(List.of("Hel", "lo"), 12)), 7, true);
    assertEquals(6, out.size(), out.toString());
    assertEquals("assistant", json(out.get(0)).path("choices").get(0).path("delta").path("role").asText());
    assertEquals("Hel", json(out.get(1)).path("choices").get(0).path("delta").path("content").asText());
    assertEquals("lo", json(out.get(2)).path("choices").get(0).path("delta").path("content").asText());
    assertEquals("stop", json(out.get(3)).path("choices").get(0).path("finish_reason").asText());
    JsonNode usage = json(out.get(4)).path("usage");
    assertEquals(14, usage.path("prompt_tokens").asLong(), "inputTokens + cacheReadInputTokens");
    assertEquals(2, usage.path("prompt_tokens_details").path("cached_tokens").asLong());
    assertEquals(2, usage.path("completion_tokens").asLong());
    assertEquals(0, json(out.get(4)).path("choices").size());
    assertEquals("[DONE]", out.get(5));
    assertEquals("chat.completion.chunk", json(out.get(0)).path("object").asText());
    assertEquals("claude", json(out.get(0)).path("model").asText());
  }

  @Test
  void toolUseStartAndInputDeltasBecomeToolCallChunks() throws Exception {
    BedrockToOpenAi t = new BedrockToOpenAi("claude");
    List<byte[]> frames = List.of(
        BedrockDialect.event("messageStart", "{\"role\":\"assistant\"}"),
        BedrockDialect.event("contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Let me check.\"}}"),
        BedrockDialect.event("contentBlockStop", "{\"contentBlockIndex\":0}"),
        BedrockDialect.event("contentBlockStart",
            "{\"contentBlockIndex\":1,\"start\":{\"toolUse\":{\"toolUseId\":\"tu_1\",\"name\":\"get_weather\"}}}"),
        BedrockDialect.event("contentBlockDelta", "{\"contentBlockIndex\":1,\"delta\":{\"toolUse\":{\"input\":\"{\\\"city\\\":\"}}}"),
        BedrockDialect.event("contentBlockDelta", "{\"contentBlockIndex\":1,\"delta\":{\"toolUse\":{\"input\":\"\\\"Paris\\\"}\"}}}"),
        BedrockDialect.event("messageStop", "{\"stopReason\":\"tool_use\"}"),
        BedrockDialect.event("metadata", "{\"usage\":{\"inputTokens\":20,\"outputTokens\":9,\"totalTokens\":29}}"));
    List<String> out = t.translateStream(concat(frames), true);
    JsonNode start = json(out.get(2)).path("choices").get(0).path("delta").path("tool_calls").get(0);
    assertEquals(0, start.path("index").asInt());
    assertEquals("tu_1", start.path("id").asText());
    assertEquals("get_weather", start.path("function").path("name").asText());
    String args = json(out.get(3)).path("choices").get(0).path("delta").path("tool_calls").get(0)
        .path("function").path("arguments").asText()
        + json(out.get(4)).path("choices").get(0).path("delta").path("tool_calls").get(0)
        .path("function").path("arguments").asText();
    assertEquals("{\"city\":\"Paris\"}", args);
    assertEquals("tool_calls", json(out.get(5)).path("choices").get(0).path("finish_reason").asText());
    assertEquals(20, json(out.get(6)).path("usage").path("prompt_tokens").asLong());
    assertEquals("[DONE]", out.get(7));
  }

  @Test
  void exceptionFrameEndsTheStreamWithAnOpenAiErrorAndNoDone() throws Exception {
    BedrockToOpenAi t = new BedrockToOpenAi("claude");
    List<byte[]> frames = new ArrayList<>(BedrockDialect.textFrames(List.of("Hel"), 12).subList(0, 2));
    frames.add(BedrockDialect.exception("throttlingException", "Too many requests"));
    frames.addAll(BedrockDialect.textFrames(List.of("ignored"), 12));
    List<String> out = t.translateStream(concat(frames), true);
    assertEquals(3, out.size(), out.toString());
    JsonNode error = json(out.get(2)).path("error");
    assertEquals("Too many requests", error.path("message").asText());
    assertEquals("rate_limit_exceeded", error.path("type").asText());
    assertEquals("throttlingException", error.path("code").asText());
    assertFalse(out.contains("[DONE]"));
  }

  @Test
  void frameWithABadMessageChecksumEndsTheStreamAfterTheGoodFrames() throws Exception {
    BedrockToOpenAi t = new BedrockToOpenAi("claude");
    List<byte[]> frames = BedrockDialect.textFrames(List.of("Hel", "lo"), 12);
    byte[] bad = frames.get(2);
    bad[bad.length - 1] ^= 1;
    List<String> out = feed(t, concat(frames), 5, true);
    assertEquals(3, out.size(), out.toString());
    assertEquals("Hel", json(out.get(1)).path("choices").get(0).path("delta").path("content").asText());
    JsonNode error = json(out.get(2)).path("error");
    assertEquals("malformed_stream", error.path("code").asText());
    assertEquals("server_error", error.path("type").asText());
    assertTrue(t.translateStream(new byte[] {1, 2, 3}, true).isEmpty(), "nothing follows the error");
  }

  @Test
  void frameWithABadPreludeChecksumIsRefusedToo() throws Exception {
    BedrockToOpenAi t = new BedrockToOpenAi("claude");
    byte[] frame = BedrockDialect.event("messageStart", "{\"role\":\"assistant\"}");
    frame[9] ^= 1; // inside the prelude's CRC (bytes 8-11)
    List<String> out = t.translateStream(frame, false);
    assertEquals(1, out.size(), out.toString());
    assertEquals("malformed_stream", json(out.get(0)).path("error").path("code").asText());
  }

  @Test
  void streamCutBeforeMessageStopIsAnErrorNotACompleteAnswer() throws Exception {
    BedrockToOpenAi t = new BedrockToOpenAi("claude");
    List<byte[]> frames = BedrockDialect.textFrames(List.of("Hel"), 12).subList(0, 2);
    List<String> out = t.translateStream(concat(frames), true);
    assertEquals("stream_interrupted", json(out.get(out.size() - 1)).path("error").path("code").asText());
    assertFalse(out.contains("[DONE]"));
  }

  @Test
  void streamStoppedWithoutMetadataEndsWithDoneAndNoUsage() throws Exception {
    BedrockToOpenAi t = new BedrockToOpenAi("claude");
    List<byte[]> frames = BedrockDialect.textFrames(List.of("Hi"), 12);
    List<String> out = t.translateStream(concat(frames.subList(0, frames.size() - 1)), true);
    assertEquals("[DONE]", out.get(out.size() - 1));
    assertTrue(out.stream().noneMatch(s -> s.contains("\"usage\"")), out.toString());
  }

  @Test
  void converseAnswerWithTextToolUseAndCacheUsageBecomesAChatCompletion() throws Exception {
    BedrockToOpenAi t = new BedrockToOpenAi("claude");
    String converse = """
        {"output":{"message":{"role":"assistant","content":[{"text":"Checking."},
           {"toolUse":{"toolUseId":"tu_1","name":"get_weather","input":{"city":"Paris"}}}]}},
         "stopReason":"tool_use",
         "usage":{"inputTokens":30,"outputTokens":12,"totalTokens":50,"cacheReadInputTokens":5,"cacheWriteInputTokens":3},
         "metrics":{"latencyMs":120}}""";
    JsonNode out = json(new String(t.translateBody(200, converse.getBytes(StandardCharsets.UTF_8)), StandardCharsets.UTF_8));
    assertEquals("chat.completion", out.path("object").asText());
    JsonNode choice = out.path("choices").get(0);
    assertEquals("Checking.", choice.path("message").path("content").asText());
    assertEquals("tu_1", choice.path("message").path("tool_calls").get(0).path("id").asText());
    assertEquals("{\"city\":\"Paris\"}", choice.path("message").path("tool_calls").get(0).path("function")
        .path("arguments").asText());
    assertEquals("tool_calls", choice.path("finish_reason").asText());
    assertEquals(38, out.path("usage").path("prompt_tokens").asLong(), "input + cache reads + cache writes");
    assertEquals(5, out.path("usage").path("prompt_tokens_details").path("cached_tokens").asLong());
    assertEquals(12, out.path("usage").path("completion_tokens").asLong());
    assertEquals(50, out.path("usage").path("total_tokens").asLong());
  }

  @Test
  void bedrockErrorsBecomeOpenAiErrorsNamedForTheirException() throws Exception {
    BedrockToOpenAi t = new BedrockToOpenAi("claude");
    JsonNode e = json(new String(t.translateBody(400, "{\"message\":\"Malformed input request\"}".getBytes(StandardCharsets.UTF_8)),
        StandardCharsets.UTF_8)).path("error");
    assertEquals("Malformed input request", e.path("message").asText());
    assertEquals("invalid_request_error", e.path("type").asText());
    assertEquals("ValidationException", e.path("code").asText());
    JsonNode throttled = json(new String(t.translateBody(429, "{\"message\":\"Too many\"}".getBytes(StandardCharsets.UTF_8)),
        StandardCharsets.UTF_8)).path("error");
    assertEquals("rate_limit_exceeded", throttled.path("type").asText());
    JsonNode notJson = json(new String(t.translateBody(502, "<html>bad gateway</html>".getBytes(StandardCharsets.UTF_8)),
        StandardCharsets.UTF_8)).path("error");
    assertEquals("The backend answered 502 with a body that is not JSON.", notJson.path("message").asText());
  }

  @Test
  void stopReasonsMapToOpenAiFinishReasons() {
    assertEquals("stop", BedrockToOpenAi.finishReason("end_turn"));
    assertEquals("stop", BedrockToOpenAi.finishReason("stop_sequence"));
    assertEquals("length", BedrockToOpenAi.finishReason("max_tokens"));
    assertEquals("tool_calls", BedrockToOpenAi.finishReason("tool_use"));
    assertEquals("content_filter", BedrockToOpenAi.finishReason("guardrail_intervened"));
    assertEquals("content_filter", BedrockToOpenAi.finishReason("content_filtered"));
  }
}
