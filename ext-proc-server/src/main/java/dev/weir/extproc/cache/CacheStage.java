package dev.weir.extproc.cache;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weir.extproc.GatewayRuntime;
import dev.weir.extproc.limits.Limiter;
import dev.weir.extproc.openai.Json;
import dev.weir.extproc.openai.ParsedRequest;
import dev.weir.extproc.openai.Usage;
import dev.weir.extproc.pipeline.Decision;
import dev.weir.extproc.pipeline.ExchangeState;
import dev.weir.extproc.pipeline.Mutation;
import dev.weir.extproc.pipeline.ResponseChunk;
import dev.weir.extproc.pipeline.Stage;
import io.micrometer.core.instrument.Counter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Response caching. At cache lookup it answers a cacheable request from the cache (the exact tier,
 * then the semantic one) in the shape the client asked for, JSON or an SSE replay; at cache store
 * it keeps a complete 200 answer. Every exchange the policy covers gets {@code x-weir-cache:
 * hit-exact | hit-semantic | miss | bypass}.
 *
 * <p>A hit ends the request before the limits stage, so this stage admits it against the
 * consumer's limits itself with zero tokens: it counts toward request rates and consumes no token
 * limit. Lookups block on Redis (bounded by its timeout) and on the embedding executor; exchanges
 * run on virtual threads, so neither holds a gRPC event loop.
 */
public final class CacheStage implements Stage {
  public static final String HEADER = "x-weir-cache";
  private CacheKey key;
  private CacheRules rules;
  private String result;
  private boolean store;
  private AnswerAssembler assembler;

  @Override
  public String name() {
    return "cache";
  }

  @Override
  public Decision onRequestBody(ExchangeState exchange, Mutation mutation) {
    ParsedRequest request = exchange.request();
    GatewayRuntime gateway = exchange.gateway();
    ResponseCache cache = gateway.stores().cache();
    if (request == null || cache == null) {
      return Decision.proceed();
    }
    String consumer = exchange.caller().name();
    rules = gateway.limiter().policies().resolve(consumer, request.model()).cache();
    if (!rules.enabled()) {
      return Decision.proceed();
    }
    String cacheControl = exchange.requestHeaders().getOrDefault("cache-control", "").toLowerCase(Locale.ROOT);
    boolean noStore = cacheControl.contains("no-store");
    boolean noCache = noStore || cacheControl.contains("no-cache");
    List<String> sharers = sharers(exchange, rules.varyBy());
    if (sharers == null || Cacheability.refusal(request, rules) != null) {
      return bypass(exchange);
    }
    key = CacheKey.of(request, request.model(), sharers, rules.ignoreSystemMessages());
    store = !noStore;
    if (noCache) {
      result = "bypass";
      assembler = store ? new AnswerAssembler(request.endpoint()) : null;
      count(exchange, result);
      return Decision.proceed();
    }
    ResponseCache.Hit hit = rules.exact() ? cache.exact(key) : null;
    if (hit == null && rules.semantic()) {
      hit = cache.semantic(key, rules);
    }
    if (hit == null) {
      result = "miss";
      assembler = new AnswerAssembler(request.endpoint());
      count(exchange, result);
      return Decision.proceed();
    }
    return serve(exchange, request, hit);
  }

  private Decision bypass(ExchangeState exchange) {
    result = "bypass";
    count(exchange, result);
    return Decision.proceed();
  }

  private Decision serve(ExchangeState exchange, ParsedRequest request, ResponseCache.Hit hit) {
    GatewayRuntime gateway = exchange.gateway();
    String consumer = exchange.caller().name();
    if (gateway.limiter().limits(consumer, request.model())) {
      Limiter.Admission admission = gateway.limiter().admit(new Limiter.Facts(consumer, exchange.clientIp(),
          exchange.requestHeaders(), exchange.jwtClaims(), request.model(), 0, 0));
      if (admission instanceof Limiter.Refused refused) {
        Map<String, String> extra = new LinkedHashMap<>();
        if (refused.error().status() == 429 || refused.error().status() == 503) {
          extra.put("retry-after", Long.toString(Math.max(1, refused.retryAfterSeconds())));
        }
        extra.put("x-weir-limit", refused.limit());
        exchange.record().limitedBy(refused.limit());
        return Decision.reject(refused.error(), extra);
      }
      exchange.record().limitHeaders(((Limiter.Admitted) admission).headers());
      // Zero tokens reserved: settling at once keeps the request counted and charges nothing else.
      ((Limiter.Admitted) admission).reservation().reconcile(0, 0, 0);
    }
    result = "hit-" + hit.tier();
    count(exchange, result);
    CachedAnswer a = hit.answer();
    // What the backend would have charged for the stored answer, at today's price.
    exchange.record().cachedSavingsMicros(gateway.limiter().price(request.model(), a.promptTokens(), 0,
        a.completionTokens()));
    Counter.builder("weir.cache.tokens.saved")
        .description("Backend tokens a cache hit did not spend (the stored answer's usage)")
        .tag("consumer", consumer).tag("model", request.model())
        .register(gateway.metrics().registry()).increment(a.promptTokens() + a.completionTokens());
    Map<String, String> headers = new LinkedHashMap<>();
    headers.put(HEADER, result);
    if (hit.tier().equals("semantic")) {
      headers.put("x-weir-cache-similarity", String.format(Locale.ROOT, "%.4f", hit.similarity()));
    }
    headers.put("x-weir-cache-age", Long.toString(Math.max(0, (System.currentTimeMillis() - a.createdMillis()) / 1000)));
    byte[] body;
    if (request.stream()) {
      headers.put("content-type", "text/event-stream");
      headers.put("cache-control", "no-cache");
      boolean usage = request.body().path("stream_options").path("include_usage").asBoolean(false);
      body = SseReplay.of(request.endpoint(), a.answer(), usage);
    } else {
      body = a.answerJson().getBytes(StandardCharsets.UTF_8);
    }
    return Decision.answer(200, body, headers, "cached");
  }

  /** The values of varyBy, or null when one is missing (such a request is not cached at all). */
  private static List<String> sharers(ExchangeState exchange, List<String> varyBy) {
    List<String> out = new ArrayList<>();
    for (String v : varyBy) {
      String value;
      if (v.equals("consumer")) {
        value = exchange.caller().name();
      } else if (v.startsWith("header:")) {
        value = exchange.requestHeaders().get(v.substring(7).toLowerCase(Locale.ROOT));
      } else if (v.startsWith("jwt:")) {
        value = exchange.jwtClaims().get(v.substring(4));
      } else {
        value = null;
      }
      if (value == null || value.isEmpty()) {
        return null;
      }
      out.add(v + "=" + value);
    }
    return out;
  }

  private static void count(ExchangeState exchange, String result) {
    exchange.record().cache(result);
    Counter.builder("weir.cache.lookups").description("Cache lookups, by result")
        .tag("result", result).tag("model", exchange.request().model())
        .register(exchange.gateway().metrics().registry()).increment();
  }

  @Override
  public Decision onResponseHeaders(ExchangeState exchange, Mutation mutation) {
    if (result != null) {
      mutation.setHeader(HEADER, result);
    }
    return Decision.proceed();
  }

  @Override
  public Decision onResponseChunk(ExchangeState exchange, ResponseChunk chunk, Mutation mutation) {
    if (assembler != null && exchange.served()) {
      if (chunk.streamed()) {
        assembler.event(chunk.json(), chunk.isDone());
      } else {
        assembler.body(chunk.json());
      }
    }
    return Decision.proceed();
  }

  @Override
  public Decision onResponseEnd(ExchangeState exchange, Mutation mutation) {
    if (assembler == null || !store || !exchange.served() || !exchange.responseComplete()) {
      return Decision.proceed();
    }
    Usage usage = exchange.record().usage();
    if (usage != null) {
      ObjectNode u = Json.MAPPER.createObjectNode();
      u.put("prompt_tokens", usage.promptTokens()).put("completion_tokens", usage.completionTokens())
          .put("total_tokens", usage.promptTokens() + usage.completionTokens());
      assembler.usageIfMissing(u);
    }
    JsonNode answer = assembler.complete(exchange.streaming());
    if (answer == null) {
      return Decision.proceed();
    }
    long now = System.currentTimeMillis();
    JsonNode u = answer.path("usage");
    // Only entries the semantic tier may match carry their prompt, so exact-only caches embed nothing.
    String prompt = rules.semantic() ? key.lastTurnText() : null;
    exchange.gateway().stores().cache().store(new CachedAnswer(key.partition(), key.key(), prompt,
        answer.toString(), u.path("prompt_tokens").asLong(0), u.path("completion_tokens").asLong(0), now,
        now + rules.ttlSeconds() * 1000));
    return Decision.proceed();
  }
}
