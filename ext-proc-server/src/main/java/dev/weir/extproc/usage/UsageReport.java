package dev.weir.extproc.usage;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weir.extproc.openai.Json;
import java.time.LocalDate;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A chargeback report: the ledger's totals between two days, summed by the dimensions asked for
 * (consumer, model, day), as JSON or CSV. The one implementation behind {@code GET /usage} and the
 * {@code ext-proc-server usage} command.
 */
public final class UsageReport {
  /** The dimensions a report can group by. */
  public static final List<String> DIMENSIONS = List.of("consumer", "model", "day");
  /** The longest span one report covers, so a request cannot make the store read years of days. */
  public static final int MAX_DAYS = 400;

  /** What a report asks for; {@link #parse} checks it. */
  public record Query(LocalDate from, LocalDate to, List<String> groupBy, String format) {}

  /** A query that cannot be answered, with the reason in words. */
  public static final class BadQuery extends IllegalArgumentException {
    public BadQuery(String message) {
      super(message);
    }
  }

  /** One row: the values of the grouped dimensions and their totals. */
  public record Row(Map<String, String> dimensions, UsageAmounts amounts) {}

  private UsageReport() {}

  /**
   * Reads a query's parameters (from, to: YYYY-MM-DD, default today UTC; groupBy: a comma list of
   * consumer, model, day, default consumer,model; format: json or csv, default json).
   */
  public static Query parse(Map<String, String> params, LocalDate today) {
    LocalDate from = day(params, "from", today);
    LocalDate to = day(params, "to", from.isAfter(today) ? from : today);
    if (to.isBefore(from)) {
      throw new BadQuery("to (" + to + ") is before from (" + from + ")");
    }
    if (from.plusDays(MAX_DAYS).isBefore(to)) {
      throw new BadQuery("at most " + MAX_DAYS + " days per report; ask for several");
    }
    String group = params.getOrDefault("groupBy", "consumer,model");
    LinkedHashSet<String> groupBy = new LinkedHashSet<>();
    for (String g : group.split(",")) {
      String d = g.strip().toLowerCase(Locale.ROOT);
      if (d.isEmpty()) {
        continue;
      }
      if (!DIMENSIONS.contains(d)) {
        throw new BadQuery("groupBy: unknown dimension \"" + clip(g) + "\"; use consumer, model and/or day");
      }
      groupBy.add(d);
    }
    String format = params.getOrDefault("format", "json").strip().toLowerCase(Locale.ROOT);
    if (!format.equals("json") && !format.equals("csv")) {
      throw new BadQuery("format: use json or csv, not \"" + clip(format) + "\"");
    }
    return new Query(from, to, List.copyOf(groupBy), format);
  }

  private static LocalDate day(Map<String, String> params, String name, LocalDate fallback) {
    String v = params.get(name);
    if (v == null || v.isBlank()) {
      return fallback;
    }
    try {
      return LocalDate.parse(v.strip());
    } catch (DateTimeParseException e) {
      throw new BadQuery(name + ": expected a day as YYYY-MM-DD, found \"" + clip(v) + "\"");
    }
  }

  private static String clip(String s) {
    String cut = s.length() > 40 ? s.substring(0, 40) + "..." : s;
    return cut.replaceAll("[\\p{Cntrl}\"]", "?");
  }

  /** The ledger's totals for the query, grouped, sorted by day, consumer, model. */
  public static List<Row> rows(Query q, Map<UsageLedger.Key, UsageAmounts> totals) {
    Map<List<String>, UsageAmounts> grouped = new LinkedHashMap<>();
    totals.entrySet().stream()
        .sorted(Comparator.comparing((Map.Entry<UsageLedger.Key, UsageAmounts> e) -> e.getKey().day())
            .thenComparing(e -> e.getKey().consumer()).thenComparing(e -> e.getKey().model()))
        .forEach(e -> {
          List<String> values = new ArrayList<>();
          for (String d : q.groupBy()) {
            values.add(switch (d) {
              case "consumer" -> e.getKey().consumer();
              case "model" -> e.getKey().model();
              default -> e.getKey().day().toString();
            });
          }
          grouped.merge(values, e.getValue(), UsageAmounts::plus);
        });
    List<Row> rows = new ArrayList<>();
    grouped.forEach((values, amounts) -> {
      Map<String, String> dims = new LinkedHashMap<>();
      for (int i = 0; i < values.size(); i++) {
        dims.put(q.groupBy().get(i), values.get(i));
      }
      rows.add(new Row(dims, amounts));
    });
    rows.sort(Comparator.comparing((Row r) -> r.dimensions().getOrDefault("day", ""))
        .thenComparing(r -> r.dimensions().getOrDefault("consumer", ""))
        .thenComparing(r -> r.dimensions().getOrDefault("model", "")));
    return rows;
  }

  /** The report as the JSON of GET /usage. */
  public static String json(Query q, List<Row> rows) {
    ObjectNode root = Json.MAPPER.createObjectNode();
    root.put("from", q.from().toString());
    root.put("to", q.to().toString());
    ArrayNode groupBy = root.putArray("groupBy");
    q.groupBy().forEach(groupBy::add);
    ArrayNode out = root.putArray("rows");
    UsageAmounts total = UsageAmounts.ZERO;
    for (Row r : rows) {
      ObjectNode row = out.addObject();
      r.dimensions().forEach(row::put);
      amounts(row, r.amounts());
      total = total.plus(r.amounts());
    }
    amounts(root.putObject("totals"), total);
    return root.toPrettyString() + "\n";
  }

  private static void amounts(ObjectNode node, UsageAmounts a) {
    node.put("requests", a.requests());
    node.put("promptTokens", a.promptTokens());
    node.put("completionTokens", a.completionTokens());
    node.put("cachedTokens", a.cachedTokens());
    node.put("reasoningTokens", a.reasoningTokens());
    node.put("cost", a.costMicros() / 1e6);
    node.put("cachedSavings", a.cachedSavingsMicros() / 1e6);
    node.put("cachedRequests", a.cachedRequests());
  }

  /** Micro-dollars as dollars, exactly (six decimals at most). */
  private static java.math.BigDecimal dollars(long micros) {
    return java.math.BigDecimal.valueOf(micros, 6).stripTrailingZeros();
  }

  /** The report as CSV (RFC 4180): a header row, one row per group, no totals row. */
  public static String csv(Query q, List<Row> rows) {
    StringBuilder out = new StringBuilder();
    List<String> header = new ArrayList<>(q.groupBy());
    header.addAll(List.of("requests", "promptTokens", "completionTokens", "cachedTokens", "reasoningTokens",
        "cost", "cachedSavings", "cachedRequests"));
    out.append(String.join(",", header)).append("\r\n");
    for (Row r : rows) {
      List<String> cells = new ArrayList<>();
      r.dimensions().values().forEach(v -> cells.add(csvCell(v)));
      UsageAmounts a = r.amounts();
      cells.addAll(List.of(Long.toString(a.requests()), Long.toString(a.promptTokens()),
          Long.toString(a.completionTokens()), Long.toString(a.cachedTokens()), Long.toString(a.reasoningTokens()),
          dollars(a.costMicros()).toPlainString(), dollars(a.cachedSavingsMicros()).toPlainString(),
          Long.toString(a.cachedRequests())));
      out.append(String.join(",", cells)).append("\r\n");
    }
    return out.toString();
  }

  /**
   * A CSV cell, quoted when needed; a leading =, +, - or @ is prefixed with a quote so a
   * spreadsheet does not run it as a formula (names come from the config, but exports travel).
   */
  static String csvCell(String v) {
    String s = v;
    if (!s.isEmpty() && "=+-@".indexOf(s.charAt(0)) >= 0) {
      s = "'" + s;
    }
    if (s.contains(",") || s.contains("\"") || s.contains("\n") || s.contains("\r")) {
      s = "\"" + s.replace("\"", "\"\"") + "\"";
    }
    return s;
  }

  /** The report in the query's format. */
  public static String render(Query q, Map<UsageLedger.Key, UsageAmounts> totals) {
    List<Row> rows = rows(q, totals);
    return q.format().equals("csv") ? csv(q, rows) : json(q, rows);
  }
}
