package dev.weir.extproc.telemetry;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.JsonFormat;
import dev.weir.admin.AdminHttp;
import dev.weir.events.v1.UsageEvent;
import dev.weir.extproc.usage.UsageReport;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/** The admin port's {@code GET /usage} (chargeback) and {@code GET /events} (recent usage events). */
public final class ObservabilityPages {
  /** Events a page returns when the query names no limit. */
  static final int DEFAULT_EVENTS = 100;
  private static final JsonFormat.Printer PRINTER = JsonFormat.printer().omittingInsignificantWhitespace();

  private ObservabilityPages() {}

  /** {@code /usage?from=&to=&groupBy=&format=}: the ledger's totals, grouped, as JSON or CSV. */
  public static AdminHttp.Answer usage(Supplier<Telemetry> telemetry, Map<String, String> params) {
    UsageReport.Query q;
    try {
      q = UsageReport.parse(params, LocalDate.now(ZoneOffset.UTC));
    } catch (UsageReport.BadQuery e) {
      return AdminHttp.Answer.text(400, e.getMessage() + "\n");
    }
    var totals = telemetry.get().ledger().read(q.from(), q.to());
    String body = UsageReport.render(q, totals);
    return q.format().equals("csv") ? AdminHttp.Answer.csv(200, body) : AdminHttp.Answer.json(200, body);
  }

  /** {@code /events?limit=&consumer=&outcome=}: the newest events first, as a JSON array. */
  public static AdminHttp.Answer events(Supplier<Telemetry> telemetry, Map<String, String> params) {
    int limit = DEFAULT_EVENTS;
    String raw = params.get("limit");
    if (raw != null && !raw.isBlank()) {
      try {
        limit = Integer.parseInt(raw.strip());
      } catch (NumberFormatException e) {
        return AdminHttp.Answer.text(400, "limit: expected a number from 1 to " + RecentEvents.MAX_READ + "\n");
      }
      if (limit < 1 || limit > RecentEvents.MAX_READ) {
        return AdminHttp.Answer.text(400, "limit: expected a number from 1 to " + RecentEvents.MAX_READ + "\n");
      }
    }
    List<UsageEvent> events = telemetry.get().recent().newest(limit, blankToNull(params.get("consumer")),
        blankToNull(params.get("outcome")));
    return AdminHttp.Answer.json(200, json(events));
  }

  /** The events as a JSON array of their protobuf JSON forms. */
  static String json(List<UsageEvent> events) {
    StringBuilder out = new StringBuilder("[");
    for (int i = 0; i < events.size(); i++) {
      if (i > 0) {
        out.append(",\n");
      }
      try {
        out.append(PRINTER.print(events.get(i)));
      } catch (InvalidProtocolBufferException e) {
        throw new IllegalStateException("a UsageEvent always prints", e);
      }
    }
    return out.append("]\n").toString();
  }

  private static String blankToNull(String s) {
    return s == null || s.isBlank() ? null : s;
  }
}
