package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.weir.config.ApiKeys;
import dev.weir.config.ConfigLoader;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.extproc.openai.Json;
import dev.weir.testkit.ExchangeResponse;
import dev.weir.testkit.ScriptedUpstream;
import dev.weir.xds.ControlPlaneServer;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.logging.Level;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.logging.LogEntry;
import org.openqa.selenium.logging.LogType;
import org.openqa.selenium.logging.LoggingPreferences;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * The console in a real browser (Debian's headless chromium through its chromium-driver, driven by
 * Selenium): each page loads without a console error and shows the numbers of the traffic this
 * test sent through the gateway, and a backend drained from the page is drained in the control
 * plane. With {@code -Dweir.screenshots=DIR} it also saves each page for the docs.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ConsoleBrowserIT {
  static final String ADMIN_TOKEN = "console-admin-token-0123456789";
  static final String KEY_A = "sk-weir-console-team-a";
  static final String KEY_B = "sk-weir-console-team-b";
  static final String KEY_C = "sk-weir-console-team-c";
  static final Path CHROMIUM = Path.of("/usr/bin/chromium");
  static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");

  @TempDir
  static Path dir;
  static ScriptedUpstream primary;
  static ScriptedUpstream secondary;
  static ControlPlaneServer controlPlane;
  static Gateway gateway;
  static WebDriver browser;
  static String console;
  static final HttpClient http = HttpClient.newHttpClient();

  static String yaml(int controlPlaneAdminPort) {
    return """
        backends:
          - { name: primary, provider: openai-compatible, url: "%s" }
          - { name: secondary, provider: openai-compatible, url: "%s" }
        pools:
          - name: chat
            strategy: priority
            members:
              - { backend: primary, priority: 0 }
              - { backend: secondary, priority: 1 }
        models:
          - { name: gpt-4o, pool: chat, price: { inputPerMillion: 2500, outputPerMillion: 10000 } }
        limits:
          - { name: tpm-a, tokensPerMinute: 120 }
          - { name: monthly, quota: { tokens: 200, period: month }, budget: { usd: 0.5, period: month } }
          - { name: tpm-b, tokensPerMinute: 50 }
        policies:
          safety: { blocklist: block, blockedTerms: [ "project-zebra" ] }
          cache: { tiers: [ exact ] }
        consumers:
          - { name: team-a, keys: [ "%s" ], models: [ "*" ], limits: [ tpm-a, monthly ] }
          - { name: team-b, keys: [ "%s" ], models: [ "*" ], limits: [ tpm-b ] }
          - { name: team-c, keys: [ "%s" ], models: [ "*" ] }
        security: { adminToken: { env: ADMIN_TOKEN } }
        controlPlaneAdminUrl: "http://127.0.0.1:%d"
        """.formatted(primary.url(), secondary.url(), ApiKeys.hash(KEY_A), ApiKeys.hash(KEY_B),
        ApiKeys.hash(KEY_C), controlPlaneAdminPort);
  }

  @BeforeAll
  static void start() throws Exception {
    boolean ci = System.getenv("CI") != null;
    if (!Files.isExecutable(CHROMIUM) || !Files.isExecutable(CHROMEDRIVER)) {
      String why = "the browser tests need Debian's chromium and chromium-driver (.ci/run installs them)";
      if (ci) {
        throw new IllegalStateException(why);
      }
      org.junit.jupiter.api.Assumptions.abort(why);
    }
    primary = new ScriptedUpstream("primary");
    secondary = new ScriptedUpstream("secondary");
    Map<String, String> env = Map.of("ADMIN_TOKEN", ADMIN_TOKEN);
    Path file = dir.resolve("gateway.yaml");
    Files.writeString(file, yaml(1));
    controlPlane = new ControlPlaneServer(file, new ConfigLoader(env::get, true).load(file), env::get, "127.0.0.1", 0, 0,
        false, false);
    Files.writeString(file, yaml(controlPlane.adminPort()));
    GatewayConfig config = new ConfigLoader(env::get, true).load(file);
    gateway = new Gateway(config, env);
    console = "http://127.0.0.1:" + gateway.server.adminPort() + "/console/";

    ChromeOptions options = new ChromeOptions();
    options.setBinary(CHROMIUM.toFile());
    options.addArguments("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
        "--window-size=1400,1000", "--lang=en-US");
    LoggingPreferences logs = new LoggingPreferences();
    logs.enable(LogType.BROWSER, Level.ALL);
    options.setCapability(ChromeOptions.LOGGING_PREFS, logs);
    ChromeDriverService service = new ChromeDriverService.Builder()
        .usingDriverExecutable(CHROMEDRIVER.toFile()).usingAnyFreePort().build();
    browser = new ChromeDriver(service, options);
  }

  @AfterAll
  static void stop() {
    if (browser != null) {
      browser.quit();
    }
    if (gateway != null) {
      gateway.close();
    }
    if (controlPlane != null) {
      controlPlane.close();
    }
    if (primary != null) {
      primary.close();
      secondary.close();
    }
  }

  static String chat(String content) {
    return chat(content, 20);
  }

  static String chat(String content, int maxTokens) {
    return "{\"model\":\"gpt-4o\",\"temperature\":0,\"max_tokens\":" + maxTokens
        + ",\"messages\":[{\"role\":\"user\",\"content\":\"" + content + "\"}]}";
  }

  /** Served: 3 × (12 prompt + 5 completion) at $0.03 + $0.05; then one cached, one blocked, one limited. */
  static void sendTraffic() throws Exception {
    for (String q : List.of("first question", "second question", "third question")) {
      ExchangeResponse r = gateway.chat(KEY_A, chat(q));
      assertEquals(200, r.status(), r.bodyText());
    }
    ExchangeResponse cached = gateway.chat(KEY_A, chat("first question"));
    assertEquals(200, cached.status());
    assertEquals(400, gateway.chat(KEY_A, chat("tell me about project-zebra")).status());
    assertEquals(429, gateway.chat(KEY_B, chat("asks for more than fifty tokens a minute", 200)).status());
    gateway.metricsContaining("outcome=\"rejected_tokens_per_minute_exceeded\"");
  }

  /** Waits, looking again when the page re-rendered the element under it (it refreshes every 5 s). */
  static WebDriverWait waiting() {
    return (WebDriverWait) new WebDriverWait(browser, Duration.ofSeconds(10))
        .ignoring(org.openqa.selenium.StaleElementReferenceException.class);
  }

  WebElement waitFor(String css) {
    return waiting().until(d -> {
      var found = d.findElements(By.cssSelector(css));
      return found.isEmpty() ? null : found.get(0);
    });
  }

  void open(String page) {
    browser.get(console + "#" + page);
    waiting()
        .until(d -> page.equals(d.findElement(By.tagName("body")).getDomAttribute("data-loaded")));
  }

  /** Clicks the element, finding it again if the page re-rendered it meanwhile. */
  void click(String css) {
    waiting().until(d -> {
      d.findElement(By.cssSelector(css)).click();
      return true;
    });
  }

  String text(String id) {
    return browser.findElement(By.id(id)).getText();
  }

  /** Everything the browser logged at error level since the last call. */
  List<String> consoleErrors() {
    return browser.manage().logs().get(LogType.BROWSER).getAll().stream()
        .filter(e -> e.getLevel().intValue() >= Level.SEVERE.intValue()).map(LogEntry::getMessage).toList();
  }

  void screenshot(String name) throws Exception {
    String target = System.getProperty("weir.screenshots");
    if (target != null) {
      Path out = Path.of(target).resolve("console-" + name + ".png");
      Files.createDirectories(out.getParent());
      Files.write(out, ((TakesScreenshot) browser).getScreenshotAs(OutputType.BYTES));
    }
  }

  @Test
  @Order(1)
  void withoutTheTokenTheConsoleAsksForItAndShowsNoData() {
    browser.get(console);
    WebElement form = waitFor("#login:not([hidden])");
    assertTrue(form.isDisplayed());
    assertEquals("–", browser.findElement(By.id("total-requests")).getAttribute("textContent"));
    browser.findElement(By.id("login-token")).sendKeys("wrong-token");
    browser.findElement(By.cssSelector("#login-form button")).click();
    waiting().until(d -> text("login-error").contains("refused"));
    consoleErrors(); // the two 401 answers are logged by the browser; they are the point of this test
  }

  @Test
  @Order(2)
  void overviewShowsTheTrafficSentThroughTheGateway() throws Exception {
    sendTraffic();
    browser.get(console);
    waitFor("#login:not([hidden])");
    consoleErrors(); // the 401 that made the console ask for the token
    browser.findElement(By.id("login-token")).sendKeys(ADMIN_TOKEN);
    browser.findElement(By.cssSelector("#login-form button")).click();
    waiting()
        .until(d -> "overview".equals(d.findElement(By.tagName("body")).getDomAttribute("data-loaded")));
    assertEquals("6", text("total-requests"));
    assertEquals("36", text("total-prompt-tokens"));
    assertEquals("15", text("total-completion-tokens"));
    assertEquals("1", text("total-blocked"));
    assertEquals("1", text("total-limited"));
    assertEquals("0", text("total-errors"));
    assertEquals("25.0 %", text("cache-hit-rate"), "1 hit of 4 cacheable answers");
    assertEquals("0.24", text("cost-today"));
    assertTrue(browser.findElements(By.cssSelector("#chart-traffic canvas")).size() == 1, "uPlot drew the chart");
    assertEquals(List.of(), consoleErrors());
  }

  @Test
  @Order(3)
  void consumersShowUsageAgainstEveryLimit() throws Exception {
    open("consumers");
    WebElement quota = waitFor("[data-consumer='team-a'] [data-limit='monthly'][data-kind='token_quota'] .used");
    assertEquals("51 of 200", quota.getText());
    assertEquals("0.24 of 0.50 USD",
        browser.findElement(By.cssSelector("[data-consumer='team-a'] [data-kind='budget'] .used")).getText());
    assertEquals("51 of 120",
        browser.findElement(By.cssSelector("[data-consumer='team-a'] [data-limit='tpm-a'] .used")).getText());
    assertEquals("0 of 50",
        browser.findElement(By.cssSelector("[data-consumer='team-b'] [data-limit='tpm-b'] .used")).getText(),
        "the refused request was given back");
    assertEquals(List.of(), consoleErrors());
    screenshot("consumers");
  }

  @Test
  @Order(4)
  void drainFromThePageDrainsTheBackendInTheControlPlane() throws Exception {
    open("backends");
    WebElement row = waitFor("[data-pool='chat'] tr[data-member='primary']");
    assertTrue(row.getText().contains("serving"), row.getText());
    assertTrue(row.getText().contains("ok"), "primary answered: " + row.getText());
    screenshot("backends");
    click("[data-pool='chat'] tr[data-member='primary'] button[data-action='drain']");
    waiting().until(d -> d.findElement(
        By.cssSelector("[data-pool='chat'] tr[data-member='primary']")).getText().contains("drained"));
    JsonNode backends = Json.MAPPER.readTree(http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
        + controlPlane.adminPort() + "/backends")).build(), HttpResponse.BodyHandlers.ofString()).body());
    assertTrue(backends.path("backends").get(0).path("drained").asBoolean(), backends.toString());
    String resources = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + controlPlane.adminPort()
        + "/resources")).build(), HttpResponse.BodyHandlers.ofString()).body();
    assertTrue(resources.contains("DRAINING"), "the pushed endpoints mark primary as draining");
    click("[data-pool='chat'] tr[data-member='primary'] button[data-action='undrain']");
    waiting().until(d -> d.findElement(
        By.cssSelector("[data-pool='chat'] tr[data-member='primary']")).getText().contains("serving"));
    assertEquals(List.of(), consoleErrors());
  }

  List<String> column(String table, int index) {
    return browser.findElements(By.cssSelector("#" + table + " tbody tr")).stream()
        .map(r -> r.findElements(By.tagName("td")).get(index).getText()).toList();
  }

  @Test
  @Order(5)
  void recentExchangesListEveryExchangeNewestFirstFilterableAndWithoutPromptText() throws Exception {
    open("exchanges");
    assertEquals(List.of("limited", "blocked (content_filter)", "cached", "served", "served", "served"),
        column("events", 5).stream().map(o -> o.replace(" (rate_limit_exceeded)", "")
            .replace(" (tokens_per_minute_exceeded)", "")).toList());
    assertEquals(List.of("team-b", "team-a", "team-a", "team-a", "team-a", "team-a"), column("events", 1));
    assertEquals("12 / 5", column("events", 6).get(3));
    assertTrue(browser.findElements(By.xpath("//table[@id='events']//th[text()='prompt']")).isEmpty(),
        "prompt logging is off, so no prompt column");
    screenshot("exchanges");
    browser.findElement(By.id("events-consumer")).sendKeys("team-b");
    browser.findElement(By.cssSelector("#events-filter button")).click();
    waiting().until(d -> column("events", 1).equals(List.of("team-b")));
    assertEquals(List.of(), consoleErrors());
  }

  @Test
  @Order(6)
  void usagePerConsumerOverDaysMatchesWhatWasSpent() throws Exception {
    open("usage");
    String today = java.time.LocalDate.now(java.time.ZoneOffset.UTC).toString();
    WebElement teamA = waitFor("#usage tr[data-consumer='team-a'][data-day='" + today + "']");
    assertEquals(List.of(today, "team-a", "5", "36", "15"), teamA.findElements(By.tagName("td")).stream()
        .limit(5).map(WebElement::getText).toList(), "3 served, 1 cached and 1 blocked; only the served spent tokens");
    assertEquals("0.24", teamA.findElement(By.cssSelector("td.cost")).getText());
    assertTrue(browser.findElements(By.cssSelector("#chart-usage canvas")).size() == 1, "uPlot drew the chart");
    assertEquals(List.of(), consoleErrors());
    screenshot("usage");
  }

  /**
   * Only with {@code -Dweir.screenshots}: a minute of varied traffic, so the overview's live charts
   * have a shape, then its screenshot for the docs.
   */
  @Test
  @Order(7)
  void overviewScreenshotAfterAMinuteOfTraffic() throws Exception {
    org.junit.jupiter.api.Assumptions.assumeTrue(System.getProperty("weir.screenshots") != null,
        "screenshots only on request");
    String[] keys = {KEY_C, KEY_C, KEY_C, KEY_B};
    for (int second = 0; second < 60; second++) {
      for (int i = 0; i < 1 + second % 7; i++) {
        gateway.chat(keys[i % keys.length], chat("question " + second % 20 + "-" + i, 5));
      }
      if (second % 11 == 0) {
        gateway.chat(KEY_C, chat("about project-zebra"));
      }
      Thread.sleep(1000);
    }
    open("overview");
    screenshot("overview");
  }
}
