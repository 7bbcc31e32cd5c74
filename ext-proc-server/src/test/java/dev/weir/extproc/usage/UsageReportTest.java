package dev.weir.extproc.usage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.LocalDate;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Chargeback reports: defaults, grouping, and CSV that spreadsheets read safely. */
class UsageReportTest {
  static final LocalDate TODAY = LocalDate.of(2026, 11, 26);

  @Test
  void defaultsAreTodayGroupedByConsumerAndModelAsJson() {
    UsageReport.Query q = UsageReport.parse(Map.of(), TODAY);
    assertEquals(new UsageReport.Query(TODAY, TODAY, List.of("consumer", "model"), "json"), q);
  }

  @Test
  void groupingByDaySumsConsumersAndModelsOfEachDay() {
    LocalDate d1 = TODAY.minusDays(1);
    Map<UsageLedger.Key, UsageAmounts> totals = Map.of(
        new UsageLedger.Key(d1, "a", "m"), new UsageAmounts(1, 10, 5, 0, 0, 100, 0, 0),
        new UsageLedger.Key(d1, "b", "n"), new UsageAmounts(2, 20, 6, 0, 0, 200, 0, 1),
        new UsageLedger.Key(TODAY, "a", "m"), new UsageAmounts(3, 30, 7, 0, 0, 300, 50, 1));
    var q = UsageReport.parse(Map.of("from", d1.toString(), "groupBy", "day"), TODAY);
    List<UsageReport.Row> rows = UsageReport.rows(q, totals);
    assertEquals(2, rows.size());
    assertEquals(Map.of("day", d1.toString()), rows.get(0).dimensions());
    assertEquals(new UsageAmounts(3, 30, 11, 0, 0, 300, 0, 1), rows.get(0).amounts());
    assertEquals("day,requests,promptTokens,completionTokens,cachedTokens,reasoningTokens,cost,cachedSavings,"
        + "cachedRequests\r\n2026-11-25,3,30,11,0,0,0.0003,0,1\r\n2026-11-26,3,30,7,0,0,0.0003,0.00005,1\r\n",
        UsageReport.csv(q, rows));
  }

  @Test
  void csvCellsThatASpreadsheetWouldRunOrSplitAreEscaped() {
    assertEquals("'=HYPERLINK(1)", UsageReport.csvCell("=HYPERLINK(1)"));
    assertEquals("\"a,b\"", UsageReport.csvCell("a,b"));
    assertEquals("\"say \"\"hi\"\"\"", UsageReport.csvCell("say \"hi\""));
    assertEquals("team", UsageReport.csvCell("team"));
  }

  @Test
  void aReportLongerThanTheMaximumIsRefused() {
    assertThrows(UsageReport.BadQuery.class,
        () -> UsageReport.parse(Map.of("from", "2020-01-01", "to", "2026-01-01"), TODAY));
  }
}
