package dev.weir.extproc.tokens;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.knuddels.jtokkit.api.EncodingType;
import dev.weir.extproc.openai.Endpoint;
import dev.weir.extproc.openai.ParsedRequest;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;

class TokenCounterTest {
  private final TokenCounter counter = new TokenCounter(Map.of("my-llama", "p50k_base"), 765);

  private ParsedRequest parse(Endpoint e, String json) {
    return ((ParsedRequest.Ok) ParsedRequest.parse(e, json.getBytes(StandardCharsets.UTF_8))).request();
  }

  @Test
  void picksTheEncodingByModelFamilyUnlessConfigured() {
    assertEquals(EncodingType.O200K_BASE, TokenCounter.typeFor("gpt-4o-mini", null));
    assertEquals(EncodingType.O200K_BASE, TokenCounter.typeFor("gpt-4.1", null));
    assertEquals(EncodingType.O200K_BASE, TokenCounter.typeFor("o3-mini", null));
    assertEquals(EncodingType.CL100K_BASE, TokenCounter.typeFor("gpt-4-turbo", null));
    assertEquals(EncodingType.CL100K_BASE, TokenCounter.typeFor("gpt-3.5-turbo", null));
    assertEquals(EncodingType.CL100K_BASE, TokenCounter.typeFor("text-embedding-3-small", null));
    assertEquals(EncodingType.P50K_BASE, TokenCounter.typeFor("my-llama", "p50k_base"));
  }

  @Test
  void chatCountsFramingRoleNameAndContentAsOpenAiDoes() {
    ParsedRequest r = parse(Endpoint.CHAT_COMPLETIONS, """
        {"model":"gpt-4","messages":[
          {"role":"system","content":"You are terse."},
          {"role":"user","name":"ada","content":"Hello world"}]}""");
    int expected = 3 // reply priming
        + 3 + counter.count("gpt-4", "system") + counter.count("gpt-4", "You are terse.")
        + 3 + counter.count("gpt-4", "user") + 1 + counter.count("gpt-4", "ada") + counter.count("gpt-4", "Hello world");
    assertEquals(expected, counter.promptTokens(r));
    assertEquals(2, counter.count("gpt-4", "Hello world"));
  }

  @Test
  void imagesToolsAndTextPartsAreCounted() {
    ParsedRequest plain = parse(Endpoint.CHAT_COMPLETIONS,
        "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"What is this?\"}]}");
    ParsedRequest image = parse(Endpoint.CHAT_COMPLETIONS, """
        {"model":"gpt-4o","messages":[{"role":"user","content":[
          {"type":"text","text":"What is this?"},
          {"type":"image_url","image_url":{"url":"https://x/y.png"}},
          {"type":"image_url","image_url":{"url":"https://x/z.png","detail":"low"}}]}]}""");
    assertEquals(counter.promptTokens(plain) + 765 + 85, counter.promptTokens(image));
    ParsedRequest tools = parse(Endpoint.CHAT_COMPLETIONS, """
        {"model":"gpt-4o","messages":[{"role":"user","content":"What is this?"}],
         "tools":[{"type":"function","function":{"name":"lookup","parameters":{"type":"object"}}}]}""");
    assertTrue(counter.promptTokens(tools) > counter.promptTokens(plain) + 5);
  }

  @Test
  void completionsAndEmbeddingsAcceptStringsArraysAndTokenIds() {
    assertEquals(counter.count("gpt-3.5-turbo-instruct", "one two") + counter.count("gpt-3.5-turbo-instruct", "three"),
        counter.promptTokens(parse(Endpoint.COMPLETIONS, "{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt\":[\"one two\",\"three\"]}")));
    assertEquals(4, counter.promptTokens(parse(Endpoint.EMBEDDINGS,
        "{\"model\":\"text-embedding-3-small\",\"input\":[[1,2],[3,4]]}")));
    assertEquals(3, counter.promptTokens(parse(Endpoint.EMBEDDINGS,
        "{\"model\":\"text-embedding-3-small\",\"input\":[5,6,7]}")));
  }
}
