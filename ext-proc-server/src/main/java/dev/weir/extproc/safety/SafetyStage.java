package dev.weir.extproc.safety;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import dev.weir.config.v1.SafetyAction;
import dev.weir.extproc.openai.ApiError;
import dev.weir.extproc.openai.Endpoint;
import dev.weir.extproc.openai.Json;
import dev.weir.extproc.openai.ParsedRequest;
import dev.weir.extproc.pipeline.Decision;
import dev.weir.extproc.pipeline.ExchangeState;
import dev.weir.extproc.pipeline.Mutation;
import dev.weir.extproc.pipeline.ResponseChunk;
import dev.weir.extproc.pipeline.Stage;
import dev.weir.extproc.safety.scanners.ExternalScanner;
import dev.weir.extproc.safety.scanners.ScanRequest;
import dev.weir.extproc.safety.scanners.Verdict;
import io.micrometer.core.instrument.Counter;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Content safety on both sides of an exchange: at PROMPT_CHECKS it blocks, masks, tokenizes or
 * monitors what the detectors find in the prompt; at RESPONSE_CHECKS it checks the answer (whole,
 * or as a stream holding back only a tail that could still grow into a finding or a placeholder)
 * and restores tokenized values, tool-call arguments included. The in-process detectors are
 * linear in the text; external scanners, when the policy names any, are called in parallel and
 * waited for on the exchange's virtual thread (never a Netty event loop), each bounded by its
 * timeout. A streamed answer that scanners check is held back window by window until they pass it.
 */
public final class SafetyStage implements Stage {
  private static final Logger audit = LoggerFactory.getLogger("weir.audit");

  private SafetyRules rules = SafetyRules.NONE;
  private final Placeholders placeholders = new Placeholders();
  /** Unreleased text of each streamed field: "c0" content of choice 0, "t0.1" tool call 1's arguments. */
  private final Map<String, StringBuilder> pending = new LinkedHashMap<>();
  /** The last released (checked, not yet restored) characters of each field, context for the next check. */
  private final Map<String, String> released = new java.util.HashMap<>();
  static final int CONTEXT = 64;
  private boolean cutOff;
  private List<ExternalScanner> answerScanners = List.of();
  /** Checked answer text of each field waiting for the scanners' window to fill. */
  private final Map<String, StringBuilder> gate = new java.util.HashMap<>();
  /** The end of each field's last scanned window, sent again at the start of the next. */
  private final Map<String, String> gateTail = new java.util.HashMap<>();
  private int window = Integer.MAX_VALUE;
  private int overlap;

  @Override
  public String name() {
    return "safety";
  }

  @Override
  public Decision onRequestBody(ExchangeState exchange, Mutation mutation) {
    ParsedRequest request = exchange.request();
    if (request == null || exchange.caller() == null) {
      return Decision.proceed();
    }
    rules = exchange.gateway().limiter().policies().resolve(exchange.caller().name(), request.model()).safety();
    if (!rules.active()) {
      return Decision.proceed();
    }
    List<ExternalScanner> scanners = exchange.gateway().scanners().named(rules.scanners());
    if (rules.checkAnswers()) {
      answerScanners = scanners.stream().filter(s -> s.config().getCheckAnswers()).toList();
      // One stream, one window: the largest any of its scanners asks for (0: the whole answer).
      int w = 0;
      for (ExternalScanner s : answerScanners) {
        w = s.config().getWindowSize() == 0 ? Integer.MAX_VALUE : Math.max(w, s.config().getWindowSize());
        overlap = Math.max(overlap, s.config().getWindowOverlap());
        if (w == Integer.MAX_VALUE) {
          break;
        }
      }
      window = w;
    }
    ObjectNode body = request.body().deepCopy();
    Set<String> blocked = new LinkedHashSet<>();
    Map<String, Integer> seen = new LinkedHashMap<>();
    boolean[] changed = {false};
    visitPrompt(body, request.endpoint(), (text, role, jsonString) -> {
      // Normalised once for every detector.
      NormalizedText normalized = NormalizedText.of(text);
      if (rules.promptAttackOn() && attackRole(role)
          && PromptAttackDetector.standard().score(normalized.folded()) >= rules.promptAttackThreshold()) {
        seen.merge(PromptAttackDetector.CATEGORY, 1, Integer::sum);
        // Nothing to mask in a phrasing: anything short of block is monitor.
        if (rules.action(PromptAttackDetector.CATEGORY) == SafetyAction.BLOCK) {
          blocked.add(PromptAttackDetector.CATEGORY);
        }
      }
      String out = apply(text, rules.detectors().scan(normalized), seen, blocked, true);
      changed[0] |= !out.equals(text);
      return out;
    });
    record(exchange, "prompt", seen);
    if (!blocked.isEmpty()) {
      return Decision.reject(new ApiError(rules.blockStatus(), "invalid_request_error", "content_filter",
          "The prompt was refused by the gateway's content policy (" + String.join(", ", blocked) + ")."));
    }
    if (!scanners.isEmpty()) {
      // Scanners read the prompt as the backend will, so tokenized and masked values never leave.
      List<Verdict> verdicts = exchange.gateway().scanners().check(scanners, promptRequest(exchange, body));
      Set<String> unavailable = new LinkedHashSet<>();
      judge(exchange, "prompt", verdicts, blocked, unavailable);
      if (!blocked.isEmpty()) {
        return Decision.reject(new ApiError(rules.blockStatus(), "invalid_request_error", "content_filter",
            "The prompt was refused by the gateway's content policy (" + String.join(", ", blocked) + ")."));
      }
      if (!unavailable.isEmpty()) {
        return Decision.reject(new ApiError(503, "server_error", "content_filter_unavailable",
            "The prompt could not be checked by content scanner " + String.join(", ", unavailable)
                + ", and the policy refuses unchecked prompts."));
      }
    }
    if (changed[0]) {
      byte[] bytes = Json.bytes(body);
      mutation.replaceBody(bytes);
      // Later stages (limits, route) read the prompt the backend will get.
      exchange.requestBody(bytes);
    }
    return Decision.proceed();
  }

  /** The prompt as scanners read it: all its text, the user's turns, and tool results as documents. */
  private static ScanRequest promptRequest(ExchangeState exchange, ObjectNode body) {
    StringBuilder all = new StringBuilder();
    StringBuilder user = new StringBuilder();
    List<String> documents = new ArrayList<>();
    visitPrompt(body, exchange.request().endpoint(), (text, role, jsonString) -> {
      if (!text.isEmpty()) {
        (all.isEmpty() ? all : all.append('\n')).append(text);
        if (role == null || role.equals("user")) {
          (user.isEmpty() ? user : user.append('\n')).append(text);
        } else if (role.equals("tool") || role.equals("function")) {
          documents.add(text);
        }
      }
      return text;
    });
    return new ScanRequest("prompt", exchange.request().model(), exchange.caller().name(), all.toString(),
        user.toString(), documents);
  }

  /**
   * Reads scanners' verdicts: a flagged text adds "scanner: categories" to {@code blocked} when the
   * scanner blocks; a scanner that could not answer and fails closed adds itself to
   * {@code unavailable}. Each flag and failure is a metric and an audit line, without the text.
   */
  private void judge(ExchangeState exchange, String direction, List<Verdict> verdicts, Set<String> blocked,
      Set<String> unavailable) {
    String consumer = exchange.caller() == null ? "" : exchange.caller().name();
    String model = exchange.request() == null ? "" : exchange.request().model();
    for (Verdict v : verdicts) {
      ExternalScanner scanner = exchange.gateway().scanners().get(v.scanner());
      if (v.flagged()) {
        SafetyAction action = scanner.config().getAction();
        if (action == SafetyAction.BLOCK) {
          blocked.add(v.scanner() + ": " + String.join(", ", v.categories()));
        }
        String name = action.name().toLowerCase(Locale.ROOT);
        Counter.builder("weir.safety.findings").description("Content-safety findings, by category and action")
            .tag("category", v.scanner()).tag("action", name).tag("consumer", consumer).tag("direction", direction)
            .register(exchange.gateway().metrics().registry()).increment();
        audit.info("content_safety consumer={} model={} direction={} category={} action={} scanner_categories={}",
            consumer, model, direction, v.scanner(), name, String.join(",", v.categories()));
      } else if (v.failed()) {
        boolean closed = scanner.config().getOnFailure() != dev.weir.config.v1.FailureMode.OPEN;
        if (closed) {
          unavailable.add(v.scanner() + " (" + v.failure() + ")");
        }
        audit.info("content_safety_scanner_failed consumer={} model={} direction={} scanner={} failure={} mode={}",
            consumer, model, direction, v.scanner(), v.failure(), closed ? "closed" : "open");
      }
    }
  }

  /** Scanners' verdicts on an answer text: flagged and failed-closed alike end it with content_filter. */
  private void scanAnswer(ExchangeState exchange, String text, boolean windowed, Set<String> blocked) {
    if (text.isBlank()) {
      return;
    }
    Set<String> unavailable = new LinkedHashSet<>();
    judge(exchange, "answer", exchange.gateway().scanners().checkAnswer(answerScanners, ScanRequest.answer(
        exchange.request() == null ? "" : exchange.request().model(), exchange.caller().name(), text), windowed),
        blocked, unavailable);
    blocked.addAll(unavailable);
  }

  private static boolean attackRole(String role) {
    return role == null || role.equals("user") || role.equals("tool") || role.equals("function");
  }

  /**
   * The text with findings replaced as their actions say; categories whose action is block are
   * added to {@code blocked}. In answers, tokenize masks: a value the model made up has no owner
   * to restore it for.
   */
  private String apply(String text, List<Finding> findings, Map<String, Integer> seen, Set<String> blocked,
      boolean prompt) {
    if (findings.isEmpty()) {
      return text;
    }
    StringBuilder out = new StringBuilder(text.length());
    int last = 0;
    for (Finding f : findings) {
      SafetyAction action = rules.action(f.category());
      seen.merge(f.category(), 1, Integer::sum);
      String replacement = switch (action) {
        case BLOCK -> {
          blocked.add(f.category());
          yield null;
        }
        case MASK -> Placeholders.mask(f.category());
        case TOKENIZE -> prompt ? placeholders.tokenize(f.category(), text.substring(f.start(), f.end()))
            : Placeholders.mask(f.category());
        default -> null;
      };
      if (replacement != null) {
        out.append(text, last, f.start()).append(replacement);
        last = f.end();
      }
    }
    return out.append(text, last, text.length()).toString();
  }

  /** Metrics by (category, action, consumer) and one audit line per category; never the value. */
  private void record(ExchangeState exchange, String direction, Map<String, Integer> seen) {
    if (seen.isEmpty()) {
      return;
    }
    String consumer = exchange.caller() == null ? "" : exchange.caller().name();
    seen.forEach((category, count) -> {
      String action = rules.action(category).name().toLowerCase(Locale.ROOT);
      exchange.record().safety(direction, category, action, count);
      Counter.builder("weir.safety.findings").description("Content-safety findings, by category and action")
          .tag("category", category).tag("action", action).tag("consumer", consumer).tag("direction", direction)
          .register(exchange.gateway().metrics().registry()).increment(count);
      audit.info("content_safety consumer={} model={} direction={} category={} action={} count={}", consumer,
          exchange.request() == null ? "" : exchange.request().model(), direction, category, action, count);
    });
  }

  /** A text field of the request and how to read it. */
  interface TextEdit {
    String edit(String text, String role, boolean jsonString);
  }

  /** Every text the model will read, in place: messages (parts, tool-call arguments), prompt, input. */
  static void visitPrompt(ObjectNode body, Endpoint endpoint, TextEdit edit) {
    switch (endpoint) {
      case CHAT_COMPLETIONS -> {
        for (JsonNode m : body.path("messages")) {
          if (!(m instanceof ObjectNode message)) {
            continue;
          }
          String role = message.path("role").asText(null);
          JsonNode content = message.get("content");
          if (content != null && content.isTextual()) {
            message.put("content", edit.edit(content.asText(), role, false));
          } else if (content instanceof ArrayNode parts) {
            for (JsonNode p : parts) {
              if (p instanceof ObjectNode part && part.path("text").isTextual()) {
                part.put("text", edit.edit(part.get("text").asText(), role, false));
              }
            }
          }
          for (JsonNode call : message.path("tool_calls")) {
            if (call.path("function") instanceof ObjectNode fn && fn.path("arguments").isTextual()) {
              fn.put("arguments", edit.edit(fn.get("arguments").asText(), role, true));
            }
          }
        }
      }
      case COMPLETIONS -> editStrings(body, "prompt", edit);
      case EMBEDDINGS -> editStrings(body, "input", edit);
      default -> { }
    }
  }

  private static void editStrings(ObjectNode body, String field, TextEdit edit) {
    JsonNode v = body.get(field);
    if (v != null && v.isTextual()) {
      body.put(field, edit.edit(v.asText(), null, false));
    } else if (v instanceof ArrayNode list) {
      for (int i = 0; i < list.size(); i++) {
        if (list.get(i).isTextual()) {
          list.set(i, TextNode.valueOf(edit.edit(list.get(i).asText(), null, false)));
        }
      }
    }
  }

  // --- answers ---

  private boolean answersMatter(ExchangeState exchange) {
    return exchange.served() && (rules.scansAnswers() || !placeholders.isEmpty() || !answerScanners.isEmpty());
  }

  @Override
  public Decision onResponseChunk(ExchangeState exchange, ResponseChunk chunk, Mutation mutation) {
    if (!answersMatter(exchange)) {
      return Decision.proceed();
    }
    if (chunk.streamed()) {
      streamed(exchange, chunk);
    } else {
      whole(exchange, chunk);
    }
    return Decision.proceed();
  }

  /** A buffered answer: every text field checked and restored at once. */
  private void whole(ExchangeState exchange, ResponseChunk chunk) {
    if (!(chunk.json() instanceof ObjectNode body)) {
      return;
    }
    Map<String, Integer> seen = new LinkedHashMap<>();
    boolean changed = false;
    for (JsonNode c : body.path("choices")) {
      if (!(c instanceof ObjectNode choice)) {
        continue;
      }
      Set<String> blocked = new LinkedHashSet<>();
      List<Runnable> edits = new ArrayList<>();
      ObjectNode message = choice.path("message") instanceof ObjectNode m ? m : null;
      if (message != null && message.path("content").isTextual()) {
        String out = answerText(exchange, message.get("content").asText(), false, seen, blocked);
        edits.add(() -> message.put("content", out));
      }
      if (message != null) {
        for (JsonNode call : message.path("tool_calls")) {
          if (call.path("function") instanceof ObjectNode fn && fn.path("arguments").isTextual()) {
            String out = answerText(exchange, fn.get("arguments").asText(), true, seen, blocked);
            edits.add(() -> fn.put("arguments", out));
          }
        }
      }
      if (choice.path("text").isTextual()) {
        String out = answerText(exchange, choice.get("text").asText(), false, seen, blocked);
        edits.add(() -> choice.put("text", out));
      }
      if (!blocked.isEmpty()) {
        // As Azure OpenAI answers a filtered completion: no content, finish_reason content_filter.
        if (message != null) {
          message.putNull("content");
          message.remove("tool_calls");
        }
        if (choice.has("text")) {
          choice.put("text", "");
        }
        choice.put("finish_reason", "content_filter");
      } else {
        edits.forEach(Runnable::run);
      }
      changed |= !edits.isEmpty() || !blocked.isEmpty();
    }
    record(exchange, "answer", seen);
    if (changed) {
      chunk.replace(body.toString());
    }
  }

  /** Checks (when the policy says so), then restores: values the model was given come back. */
  private String answerText(ExchangeState exchange, String text, boolean jsonString, Map<String, Integer> seen,
      Set<String> blocked) {
    String checked = rules.scansAnswers() ? apply(text, rules.detectors().scan(text), seen, blocked, false) : text;
    if (!answerScanners.isEmpty() && blocked.isEmpty()) {
      scanAnswer(exchange, checked, false, blocked);
    }
    return placeholders.restore(checked, jsonString);
  }

  /** One event of a stream: text fields hold back their unsafe tail, the rest goes on checked. */
  private void streamed(ExchangeState exchange, ResponseChunk chunk) {
    if (chunk.isDone()) {
      String flush = flushAll(exchange);
      if (flush != null) {
        chunk.insertBefore(flush);
      }
      return;
    }
    if (!(chunk.json() instanceof ObjectNode event) || !(event.get("choices") instanceof ArrayNode choices)) {
      return;
    }
    if (cutOff) {
      // After a violation only the usage event (no choices) may follow; the [DONE] passes.
      if (!choices.isEmpty()) {
        chunk.drop();
      }
      return;
    }
    Map<String, Integer> seen = new LinkedHashMap<>();
    Set<String> blocked = new LinkedHashSet<>();
    boolean changed = false;
    for (JsonNode c : choices) {
      if (!(c instanceof ObjectNode choice)) {
        continue;
      }
      int index = choice.path("index").asInt(0);
      boolean last = choice.hasNonNull("finish_reason");
      ObjectNode delta = choice.path("delta") instanceof ObjectNode d ? d : null;
      if (delta != null && delta.path("content").isTextual()) {
        delta.put("content", release(exchange, "c" + index, delta.get("content").asText(), false, seen, blocked));
        changed = true;
      }
      if (delta != null) {
        for (JsonNode call : delta.path("tool_calls")) {
          if (call.path("function") instanceof ObjectNode fn && fn.path("arguments").isTextual()) {
            String key = "t" + index + "." + call.path("index").asInt(0);
            fn.put("arguments", release(exchange, key, fn.get("arguments").asText(), true, seen, blocked));
            changed = true;
          }
        }
      }
      if (choice.path("text").isTextual()) {
        choice.put("text", release(exchange, "x" + index, choice.get("text").asText(), false, seen, blocked));
        changed = true;
      }
      if (last && blocked.isEmpty()) {
        changed |= flushChoice(exchange, choice, index, seen, blocked);
      }
    }
    record(exchange, "answer", seen);
    if (!blocked.isEmpty()) {
      cutOff = true;
      pending.clear();
      chunk.replace(contentFilterEvent(event, choices).toString());
    } else if (changed) {
      chunk.replace(event.toString());
    }
  }

  /**
   * Adds a piece to a field and returns what of it can be released, checked and restored. The
   * detectors read the whole unreleased text plus the last {@link #CONTEXT} released characters
   * (a rule such as "password: value" needs its keyword); a finding the cut would split moves
   * the cut to its start, so no value leaves in halves.
   */
  private String release(ExchangeState exchange, String key, String piece, boolean jsonString,
      Map<String, Integer> seen, Set<String> blocked) {
    StringBuilder buf = pending.computeIfAbsent(key, k -> new StringBuilder());
    buf.append(piece);
    String text = buf.toString();
    int end = HoldBack.safeEnd(text, rules.scansAnswers(), rules.detectors().blocklist(),
        placeholders.isEmpty() ? null : placeholders);
    return pass(exchange, key, emit(key, buf, text, end, seen, blocked), jsonString, false, blocked);
  }

  /**
   * Checked text of a field on its way out: restored at once when no scanner reads answers, else
   * held until the window is full (or the field ends), scanned with the previous window's last
   * {@code overlap} characters, and released whole.
   */
  private String pass(ExchangeState exchange, String key, String ready, boolean jsonString, boolean last,
      Set<String> blocked) {
    if (answerScanners.isEmpty()) {
      return ready.isEmpty() ? "" : placeholders.restore(ready, jsonString);
    }
    StringBuilder held = gate.computeIfAbsent(key, k -> new StringBuilder()).append(ready);
    if (held.isEmpty() || !last && held.length() < window) {
      return "";
    }
    String text = held.toString();
    String all = gateTail.getOrDefault(key, "") + text;
    scanAnswer(exchange, all, true, blocked);
    gateTail.put(key, all.substring(Math.max(0, all.length() - overlap)));
    held.setLength(0);
    return placeholders.restore(text, jsonString);
  }

  /** Releases {@code text[0, end)} of a field, checked and restored, keeping the rest pending. */
  private String emit(String key, StringBuilder buf, String text, int end, Map<String, Integer> seen,
      Set<String> blocked) {
    String ready;
    if (rules.scansAnswers()) {
      String context = released.getOrDefault(key, "");
      int c = context.length();
      List<Finding> findings = rules.detectors().scan(context + text);
      boolean moved = true;
      while (moved) {
        moved = false;
        for (Finding f : findings) {
          if (f.start() < c + end && f.end() > c + end) {
            end = Math.max(0, f.start() - c);
            moved = true;
          }
        }
      }
      int cut = end;
      List<Finding> inside = new ArrayList<>();
      for (Finding f : findings) {
        if (f.end() > c && f.end() <= c + cut) {
          inside.add(new Finding(f.category(), f.rule(), Math.max(0, f.start() - c), f.end() - c, f.score()));
        }
      }
      ready = apply(text.substring(0, end), inside, seen, blocked, false);
      String all = context + text.substring(0, end);
      released.put(key, all.substring(Math.max(0, all.length() - CONTEXT)));
    } else {
      ready = text.substring(0, end);
    }
    buf.delete(0, end);
    return end == 0 ? "" : ready;
  }

  /** The choice finished: whatever its fields still hold goes out in this event. */
  private boolean flushChoice(ExchangeState exchange, ObjectNode choice, int index, Map<String, Integer> seen,
      Set<String> blocked) {
    boolean changed = false;
    for (Iterator<Map.Entry<String, StringBuilder>> it = pending.entrySet().iterator(); it.hasNext(); ) {
      Map.Entry<String, StringBuilder> e = it.next();
      String key = e.getKey();
      String rest = e.getValue().toString();
      if (choiceOf(key) != index) {
        continue;
      }
      it.remove();
      String ready = rest.isEmpty() ? "" : emit(key, e.getValue(), rest, rest.length(), seen, blocked);
      String out = pass(exchange, key, ready, key.startsWith("t"), true, blocked);
      if (out.isEmpty()) {
        continue;
      }
      ObjectNode delta = choice.path("delta") instanceof ObjectNode d ? d : choice.putObject("delta");
      switch (key.charAt(0)) {
        case 'c' -> delta.put("content", delta.path("content").asText("") + out);
        case 'x' -> choice.put("text", choice.path("text").asText("") + out);
        default -> {
          int tool = Integer.parseInt(key.substring(key.indexOf('.') + 1));
          ObjectNode call = Json.MAPPER.createObjectNode().put("index", tool);
          call.putObject("function").put("arguments", out);
          delta.withArray("tool_calls").add(call);
        }
      }
      changed = true;
    }
    return changed;
  }

  /** At [DONE]: an event carrying whatever is still held (a stream that never sent finish_reason). */
  private String flushAll(ExchangeState exchange) {
    if (cutOff || pending.values().stream().allMatch(b -> b.isEmpty())
        && gate.values().stream().allMatch(b -> b.isEmpty())) {
      return null;
    }
    ObjectNode event = Json.MAPPER.createObjectNode().put("object", "chat.completion.chunk");
    ArrayNode choices = event.putArray("choices");
    Set<Integer> indexes = new java.util.TreeSet<>();
    pending.keySet().forEach(k -> indexes.add(choiceOf(k)));
    Map<String, Integer> seen = new LinkedHashMap<>();
    Set<String> blocked = new LinkedHashSet<>();
    for (int i : indexes) {
      ObjectNode choice = choices.addObject().put("index", i);
      choice.putObject("delta");
      choice.putNull("finish_reason");
      flushChoice(exchange, choice, i, seen, blocked);
    }
    if (!blocked.isEmpty()) {
      return contentFilterEvent(event, choices).toString();
    }
    return event.toString();
  }

  /** The stream's last word after a violation: each choice ends with finish_reason content_filter. */
  private static ObjectNode contentFilterEvent(ObjectNode event, ArrayNode choices) {
    ObjectNode out = event.deepCopy();
    ArrayNode ended = out.putArray("choices");
    for (JsonNode c : choices) {
      ObjectNode choice = ended.addObject().put("index", c.path("index").asInt(0));
      choice.putObject("delta");
      choice.put("finish_reason", "content_filter");
    }
    out.remove("usage");
    return out;
  }

  private static int choiceOf(String key) {
    int dot = key.indexOf('.');
    return Integer.parseInt(key.substring(1, dot < 0 ? key.length() : dot));
  }
}
