package dev.weir.config;

import dev.weir.config.v1.Backend;
import dev.weir.config.v1.Consumer;
import dev.weir.config.v1.ControlPlaneSettings;
import dev.weir.config.v1.ExtProcSettings;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.config.v1.Model;
import dev.weir.config.v1.Pool;
import dev.weir.config.v1.PoolMember;
import dev.weir.config.v1.Provider;
import dev.weir.config.v1.Strategy;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.regex.Pattern;

/**
 * The one place the gateway config is read, checked and given its defaults; both services load
 * it through here so they can never disagree about what a file means.
 */
public final class ConfigLoader {
  // Read from the schema's (default_value) options, for code that needs them without a config.
  public static final int DEFAULT_EXT_PROC_PORT = Defaults.intDefault(ExtProcSettings.getDescriptor(), "grpcPort");
  public static final int DEFAULT_EXT_PROC_ADMIN_PORT = Defaults.intDefault(ExtProcSettings.getDescriptor(), "adminPort");
  public static final int DEFAULT_MAX_REQUEST_BYTES =
      Defaults.intDefault(ExtProcSettings.getDescriptor(), "maxRequestBytes");
  public static final int DEFAULT_DRAIN_SECONDS = Defaults.intDefault(ExtProcSettings.getDescriptor(), "drainSeconds");
  public static final int DEFAULT_ADS_PORT = Defaults.intDefault(ControlPlaneSettings.getDescriptor(), "adsPort");
  public static final int DEFAULT_CONTROL_PLANE_ADMIN_PORT =
      Defaults.intDefault(ControlPlaneSettings.getDescriptor(), "adminPort");
  public static final int DEFAULT_LISTENER_PORT = Defaults.intDefault(ControlPlaneSettings.getDescriptor(), "listenerPort");

  /** Model names the metrics and the usage ledger use for requests without a configured model. */
  private static final Set<String> RESERVED_MODEL_NAMES = Set.of("(none)", "unknown");
  private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,62}");
  private static final Pattern KEY_HASH = Pattern.compile("sha256:[0-9a-f]{64}");

  private final Function<String, String> env;
  private final boolean checkCredentials;

  /**
   * @param env looks up environment variables (System::getenv in production)
   * @param checkCredentials whether every credential must be resolvable now. Both services check
   *     (a config the ext-proc-server would refuse must not reach Envoy from the control plane);
   *     only offline tools such as benchmarks turn it off
   */
  public ConfigLoader(Function<String, String> env, boolean checkCredentials) {
    this.env = env;
    this.checkCredentials = checkCredentials;
  }

  public static ConfigLoader forExtProc() {
    return new ConfigLoader(System::getenv, true);
  }

  /**
   * The same checks as {@link #forExtProc()}, credential presence included: the control plane
   * reads a credential only to see that it is there, never keeps or sends it.
   */
  public static ConfigLoader forControlPlane() {
    return forExtProc();
  }

  public GatewayConfig load(Path file) throws ConfigException {
    String text;
    try {
      text = Files.readString(file, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new ConfigException(file.toString(),
          List.of(new ConfigProblem("", 0, "cannot read the file: " + e)));
    }
    Path base = file.toAbsolutePath().getParent();
    return parse(text, file.toString(), base);
  }

  /**
   * @param baseDir relative credential file paths are resolved against it (the config's folder)
   */
  public GatewayConfig parse(String yaml, String source, Path baseDir) throws ConfigException {
    List<ConfigProblem> problems = new ArrayList<>();
    YamlProtoReader reader = new YamlProtoReader(problems);
    GatewayConfig.Builder builder = GatewayConfig.newBuilder();
    reader.read(yaml, builder);
    if (!problems.isEmpty()) {
      throw new ConfigException(source, problems);
    }
    GatewayConfig config = withDefaults(builder.build(), baseDir);
    new Checker(reader.lines(), problems).check(config);
    if (!problems.isEmpty()) {
      throw new ConfigException(source, problems);
    }
    return config;
  }

  private static GatewayConfig withDefaults(GatewayConfig in, Path baseDir) {
    GatewayConfig.Builder out = in.toBuilder();
    Defaults.apply(out);
    for (Pool.Builder pool : out.getPoolsBuilderList()) {
      // Retries.maxRetries' (derived_default): enough to try every other member once, capped
      // because each retry can wait up to maxRetryAfterSeconds.
      if (pool.getRetries().getMaxRetries() == 0) {
        pool.getRetriesBuilder().setMaxRetries(Math.min(5, Math.max(1, pool.getMembersCount() - 1)));
      }
      if (pool.hasBreaker() && pool.getBreaker().getStatusesCount() == 0) {
        pool.getBreakerBuilder().addAllStatuses(StatusRanges.DEFAULT);
      }
    }
    if (out.getControlPlaneAdminUrl().isEmpty()) {
      out.setControlPlaneAdminUrl("http://127.0.0.1:" + out.getControlPlane().getAdminPort());
    }
    for (Backend.Builder backend : out.getBackendsBuilderList()) {
      if (backend.hasCredential() && !backend.getCredential().getFile().isEmpty() && baseDir != null) {
        Path p = baseDir.resolve(backend.getCredential().getFile()).normalize();
        backend.getCredentialBuilder().setFile(p.toString());
      }
      if (backend.getCredential().hasEntra() && baseDir != null) {
        EntraCredentials.resolvePaths(backend.getCredentialBuilder().getEntraBuilder(), baseDir);
      }
      if (backend.hasAws() && baseDir != null) {
        var aws = backend.getAwsBuilder();
        if (!aws.getProfileFile().isEmpty()) {
          aws.setProfileFile(baseDir.resolve(aws.getProfileFile()).normalize().toString());
        }
        if (!aws.getWebIdentityTokenFile().isEmpty()) {
          aws.setWebIdentityTokenFile(baseDir.resolve(aws.getWebIdentityTokenFile()).normalize().toString());
        }
      }
    }
    for (var mcp : out.getMcpServersBuilderList()) {
      if (baseDir != null && mcp.getCredential().getKey().hasFile()) {
        var key = mcp.getCredentialBuilder().getKeyBuilder();
        key.setFile(baseDir.resolve(key.getFile()).normalize().toString());
      }
      if (baseDir != null && mcp.hasRest() && !mcp.getRest().getOpenapi().isEmpty()) {
        mcp.getRestBuilder().setOpenapi(baseDir.resolve(mcp.getRest().getOpenapi()).normalize().toString());
      }
      var secret = mcp.getCredential().getClientCredentials().getClientSecret();
      if (baseDir != null && secret.hasFile()) {
        mcp.getCredentialBuilder().getClientCredentialsBuilder().getClientSecretBuilder()
            .setFile(baseDir.resolve(secret.getFile()).normalize().toString());
      }
    }
    if (baseDir != null && out.getConsole().hasControlPlaneToken()
        && !out.getConsole().getControlPlaneToken().getFile().isEmpty()) {
      var token = out.getConsoleBuilder().getControlPlaneTokenBuilder();
      token.setFile(baseDir.resolve(token.getFile()).normalize().toString());
    }
    if (out.hasSecurity() && baseDir != null) {
      var sec = out.getSecurityBuilder();
      if (sec.hasAdminToken() && !sec.getAdminToken().getFile().isEmpty()) {
        sec.getAdminTokenBuilder().setFile(baseDir.resolve(sec.getAdminToken().getFile()).normalize().toString());
      }
      for (var tls : List.of(sec.getExtProcTlsBuilder(), sec.getControlPlaneTlsBuilder())) {
        if (!tls.getCertFile().isEmpty()) tls.setCertFile(baseDir.resolve(tls.getCertFile()).normalize().toString());
        if (!tls.getKeyFile().isEmpty()) tls.setKeyFile(baseDir.resolve(tls.getKeyFile()).normalize().toString());
        if (!tls.getClientCaFile().isEmpty()) {
          tls.setClientCaFile(baseDir.resolve(tls.getClientCaFile()).normalize().toString());
        }
      }
      // getXxxBuilder() marks the field present; keep an unset TLS section unset.
      if (in.hasSecurity() && !in.getSecurity().hasExtProcTls()) sec.clearExtProcTls();
      if (in.hasSecurity() && !in.getSecurity().hasControlPlaneTls()) sec.clearControlPlaneTls();
    }
    return out.build();
  }

  /** Cross-field rules: names unique and well-formed, references resolve, provider needs met. */
  private final class Checker {
    private final Map<String, Integer> lines;
    private final List<ConfigProblem> problems;

    Checker(Map<String, Integer> lines, List<ConfigProblem> problems) {
      this.lines = lines;
      this.problems = problems;
    }

    void check(GatewayConfig config) {
      Map<String, Backend> backends = new HashMap<>();
      for (int i = 0; i < config.getBackendsCount(); i++) {
        Backend b = config.getBackends(i);
        String path = "backends[" + i + "]";
        if (name(path, b.getName(), "backend") && backends.putIfAbsent(b.getName(), b) != null) {
          add(path + ".name", "duplicate backend name \"" + b.getName() + "\"");
        }
        checkBackend(path, b);
      }
      Set<String> pools = new HashSet<>();
      for (int i = 0; i < config.getPoolsCount(); i++) {
        Pool pool = config.getPools(i);
        String path = "pools[" + i + "]";
        if (name(path, pool.getName(), "pool") && !pools.add(pool.getName())) {
          add(path + ".name", "duplicate pool name \"" + pool.getName() + "\"");
        }
        checkPool(path, pool, backends);
      }
      Set<String> models = new HashSet<>();
      for (int i = 0; i < config.getModelsCount(); i++) {
        Model model = config.getModels(i);
        String path = "models[" + i + "]";
        if (model.getName().isBlank()) {
          add(path + ".name", "is required");
        } else if (RESERVED_MODEL_NAMES.contains(model.getName())) {
          add(path + ".name", "\"" + model.getName() + "\" is reserved: metrics and usage name requests without a"
              + " configured model so");
        } else if (!models.add(model.getName())) {
          add(path + ".name", "duplicate model name \"" + model.getName() + "\"");
        }
        if (model.getPool().isEmpty()) {
          add(path + ".pool", "is required");
        } else if (!pools.contains(model.getPool())) {
          add(path + ".pool", "no pool named \"" + model.getPool() + "\"");
        }
      }
      Set<String> consumers = new HashSet<>();
      Map<String, String> keyOwners = new HashMap<>();
      for (int i = 0; i < config.getConsumersCount(); i++) {
        Consumer c = config.getConsumers(i);
        String path = "consumers[" + i + "]";
        if (name(path, c.getName(), "consumer") && !consumers.add(c.getName())) {
          add(path + ".name", "duplicate consumer name \"" + c.getName() + "\"");
        }
        if (c.getKeysCount() == 0 && c.getExpiringKeysCount() == 0 && c.getTokensCount() == 0) {
          add(path + ".keys", "at least one key hash (keys or expiringKeys) or, under tokens, an identity"
              + " provider's tokens is required");
        }
        for (int k = 0; k < c.getExpiringKeysCount(); k++) {
          var key = c.getExpiringKeys(k);
          String kpath = path + ".expiringKeys[" + k + "]";
          if (!KEY_HASH.matcher(key.getHash()).matches()) {
            add(kpath + ".hash", "must be \"sha256:\" and 64 lowercase hex digits (ext-proc-server --hash-key KEY)");
          } else {
            String owner = keyOwners.putIfAbsent(key.getHash(), c.getName());
            if (owner != null) {
              add(kpath + ".hash", "the same key is already given to consumer \"" + owner + "\"");
            }
          }
          if (!key.getExpires().isEmpty()) {
            try {
              java.time.Instant.parse(key.getExpires());
            } catch (java.time.format.DateTimeParseException e) {
              add(kpath + ".expires", "must be an RFC 3339 instant such as \"2026-12-31T23:59:59Z\", found \""
                  + key.getExpires() + "\"");
            }
          }
        }
        IdentityRules.checkTokens(path, c, config, models, this::add);
        for (int k = 0; k < c.getKeysCount(); k++) {
          String key = c.getKeys(k);
          if (!KEY_HASH.matcher(key).matches()) {
            add(path + ".keys[" + k + "]", "must be \"sha256:\" and 64 lowercase hex digits"
                + " (the SHA-256 of the key; never the key itself)");
          } else {
            String owner = keyOwners.putIfAbsent(key, c.getName());
            if (owner != null) {
              add(path + ".keys[" + k + "]", "the same key is already given to consumer \"" + owner + "\"");
            }
          }
        }
        if (c.getModelsCount() == 0 && c.getMcpCount() == 0) {
          add(path + ".models", "list the models this consumer may use, or \"*\" for all");
        }
        for (int m = 0; m < c.getModelsCount(); m++) {
          String model = c.getModels(m);
          if (!model.equals("*") && !models.contains(model)) {
            add(path + ".models[" + m + "]", "no model named \"" + model + "\"");
          }
        }
      }
      IdentityRules.checkProviders(config, this::add);
      McpRules.check(config, checkCredentials, env, this::add);
      ScannerRules.check(config, this::add);
      checkLimits(config, consumers);
      checkPort("extProc.grpcPort", config.getExtProc().getGrpcPort());
      checkPort("extProc.adminPort", config.getExtProc().getAdminPort());
      checkPort("controlPlane.adsPort", config.getControlPlane().getAdsPort());
      checkPort("controlPlane.adminPort", config.getControlPlane().getAdminPort());
      checkControlPlaneAdminUrl(config.getControlPlaneAdminUrl());
      checkSecurity(config.getSecurity());
      checkConsole(config.getConsole());
      ObservabilityRules.check(config, this::add);
    }

    /** The breaker's reports and the console's drains carry the control plane's token to this URL. */
    private void checkControlPlaneAdminUrl(String url) {
      URI uri;
      try {
        uri = new URI(url);
      } catch (URISyntaxException e) {
        uri = null;
      }
      if (uri == null || uri.getHost() == null || !("http".equals(uri.getScheme()) || "https".equals(uri.getScheme()))
          || !(uri.getRawPath() == null || uri.getRawPath().isEmpty() || uri.getRawPath().equals("/"))
          || uri.getRawQuery() != null) {
        add("controlPlaneAdminUrl", "write http(s)://host[:port], found \"" + url + "\"");
      } else if ("http".equals(uri.getScheme()) && !isLoopbackName(uri.getHost())) {
        // The control plane's admin token goes with every call: never in clear over a network.
        add("controlPlaneAdminUrl", "plain http is only allowed to a loopback address (127.0.0.1, ::1,"
            + " localhost); use https to reach " + uri.getHost());
      }
    }

    private void checkConsole(dev.weir.config.v1.ConsoleSettings console) {
      if (console.hasControlPlaneToken()) {
        var source = console.getControlPlaneToken().getSourceCase();
        if (source == dev.weir.config.v1.Credential.SourceCase.SOURCE_NOT_SET
            || source == dev.weir.config.v1.Credential.SourceCase.ENTRA) {
          add("console.controlPlaneToken", "set { env: VAR } or { file: path }");
        } else if (checkCredentials) {
          try {
            Credentials.resolve(console.getControlPlaneToken(), env);
          } catch (Credentials.UnresolvableCredentialException e) {
            add("console.controlPlaneToken", e.getMessage());
          }
        }
      }
    }

    private static boolean isLoopbackName(String host) {
      String h = host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
      return h.equals("localhost") || h.equals("::1") || h.equals("0:0:0:0:0:0:0:1") || h.startsWith("127.");
    }

    private void checkSecurity(dev.weir.config.v1.SecuritySettings security) {
      if (security.getXffTrustedHops() > 16) {
        add("security.xffTrustedHops", "at most 16 proxies may be trusted, found " + security.getXffTrustedHops());
      }
      if (security.hasAdminToken()) {
        var source = security.getAdminToken().getSourceCase();
        if (source == dev.weir.config.v1.Credential.SourceCase.SOURCE_NOT_SET
            || source == dev.weir.config.v1.Credential.SourceCase.ENTRA) {
          add("security.adminToken", "set { env: VAR } or { file: path }");
        } else if (checkCredentials) {
          try {
            Credentials.resolve(security.getAdminToken(), env);
          } catch (Credentials.UnresolvableCredentialException e) {
            add("security.adminToken", e.getMessage());
          }
        }
      }
      if (security.hasExtProcTls()) {
        checkTls("security.extProcTls", security.getExtProcTls());
      }
      if (security.hasControlPlaneTls()) {
        checkTls("security.controlPlaneTls", security.getControlPlaneTls());
      }
    }

    private void checkTls(String path, dev.weir.config.v1.ServerTls tls) {
      for (var f : Map.of("certFile", tls.getCertFile(), "keyFile", tls.getKeyFile(),
          "clientCaFile", tls.getClientCaFile()).entrySet()) {
        // Only the service that serves TLS reads these files (at start and when they change).
        if (f.getValue().isEmpty()) {
          add(path + "." + f.getKey(), "is required (a PEM file)");
        }
      }
      if (tls.getAllowedClientSansCount() == 0) {
        add(path + ".allowedClientSans", "list the SANs of the client certificates to accept"
            + " (Envoy's certificate), e.g. [ \"spiffe://weir/envoy\" ]");
      }
    }

    private void checkLimits(GatewayConfig config, Set<String> consumerNames) {
      Set<String> names = new HashSet<>();
      boolean budgets = false;
      for (int i = 0; i < config.getLimitsCount(); i++) {
        var limit = config.getLimits(i);
        String path = "limits[" + i + "]";
        if (name(path, limit.getName(), "limit") && !names.add(limit.getName())) {
          add(path + ".name", "duplicate limit name \"" + limit.getName() + "\"");
        }
        String key = limit.getKey();
        if (!(key.equals("consumer") || key.equals("client-ip")
            || key.matches("header:[A-Za-z0-9-]+") || key.matches("jwt:[A-Za-z0-9_.:/-]+"))) {
          add(path + ".key", "must be consumer, client-ip, header:<name> or jwt:<claim>, found \"" + key + "\"");
        }
        if (limit.getTokensPerMinute() == 0 && limit.getRequestsPerMinute() == 0 && !limit.hasQuota()
            && !limit.hasBudget()) {
          add(path, "sets nothing to limit: give tokensPerMinute, requestsPerMinute, quota or budget");
        }
        if (limit.hasQuota()) {
          if (limit.getQuota().getTokens() == 0) add(path + ".quota.tokens", "is required");
          checkPeriod(path + ".quota", limit.getQuota().getPeriod(), limit.getQuota().getTimeZone());
        }
        if (limit.hasBudget()) {
          budgets = true;
          if (!(limit.getBudget().getUsd() > 0)) add(path + ".budget.usd", "must be more than 0");
          checkPeriod(path + ".budget", limit.getBudget().getPeriod(), limit.getBudget().getTimeZone());
        }
      }
      CachePolicyRules.check(config, this::add);
      checkLimitRefs("policies.limits", config.getPolicies().getLimitsList(), names);
      for (int i = 0; i < config.getModelsCount(); i++) {
        checkLimitRefs("models[" + i + "].policies.limits", config.getModels(i).getPolicies().getLimitsList(), names);
      }
      for (int i = 0; i < config.getConsumersCount(); i++) {
        checkLimitRefs("consumers[" + i + "].limits", config.getConsumers(i).getLimitsList(), names);
      }
      if (budgets) {
        for (int i = 0; i < config.getModelsCount(); i++) {
          if (!config.getModels(i).hasPrice()) {
            add("models[" + i + "].price", "is required when a limit has a budget (model \""
                + config.getModels(i).getName() + "\" has no price)");
          }
        }
      }
      for (int i = 0; i < config.getModelsCount(); i++) {
        String enc = config.getModels(i).getEncoding();
        if (!enc.isEmpty() && !List.of("o200k_base", "cl100k_base", "p50k_base", "r50k_base", "p50k_edit").contains(enc)) {
          add("models[" + i + "].encoding", "unknown encoding \"" + enc + "\" (o200k_base, cl100k_base, p50k_base, r50k_base)");
        }
      }
      if (config.hasRedis()) {
        String uri = config.getRedis().getUri();
        if (!(uri.startsWith("redis://") || uri.startsWith("rediss://") || uri.startsWith("redis-sentinel://"))) {
          add("redis.uri", "must start with redis://, rediss:// or redis-sentinel://");
        }
      }
    }

    private void checkPeriod(String path, dev.weir.config.v1.Period period, String zone) {
      if (period == dev.weir.config.v1.Period.PERIOD_UNSPECIFIED) {
        add(path + ".period", "is required (hour, day, week, month or year)");
      }
      if (!zone.isEmpty()) {
        try {
          java.time.ZoneId.of(zone);
        } catch (java.time.DateTimeException e) {
          add(path + ".timeZone", "unknown time zone \"" + zone + "\" (use an IANA name such as Europe/Paris)");
        }
      }
    }

    private void checkLimitRefs(String path, java.util.List<String> refs, Set<String> names) {
      for (int l = 0; l < refs.size(); l++) {
        if (!names.contains(refs.get(l))) {
          add(path + "[" + l + "]", "no limit named \"" + refs.get(l) + "\"");
        }
      }
    }

    private void checkBackend(String path, Backend b) {
      if (b.getProvider() == Provider.PROVIDER_UNSPECIFIED) {
        add(path + ".provider", "is required (one of: "
            + YamlProtoReader.enumNames(Provider.getDescriptor()) + ")");
      }
      if (b.getUrl().isEmpty()) {
        add(path + ".url", "is required");
      } else {
        try {
          URI uri = new URI(b.getUrl());
          if (!("http".equals(uri.getScheme()) || "https".equals(uri.getScheme()))
              || uri.getHost() == null) {
            add(path + ".url", "must be an http:// or https:// URL with a host, found \"" + b.getUrl() + "\"");
          } else if (uri.getRawQuery() != null || uri.getRawFragment() != null) {
            add(path + ".url", "must not have a query or fragment");
          }
        } catch (URISyntaxException e) {
          add(path + ".url", "not a URL: " + e.getMessage());
        }
      }
      ProviderRules.Rule rule = ProviderRules.of(b.getProvider());
      if (rule != null && rule.apiVersion() == ProviderRules.ApiVersion.REQUIRED && b.getApiVersion().isEmpty()) {
        add(path + ".apiVersion", "is required for provider " + ProviderRules.yamlName(b.getProvider())
            + " (e.g. \"2024-10-21\")");
      }
      if (rule != null && rule.apiVersion() == ProviderRules.ApiVersion.UNUSED && !b.getApiVersion().isEmpty()) {
        add(path + ".apiVersion", "is only used by providers azure-openai and anthropic");
      }
      if (rule != null && !rule.usesMaxTokensDefault() && b.getDefaultMaxTokens() > 0) {
        add(path + ".defaultMaxTokens", "is only used by provider anthropic");
      }
      checkAws(path, b, rule);
      if (b.getProvider() != Provider.OPENAI && b.getProvider() != Provider.PROVIDER_UNSPECIFIED
          && !(b.getOrganization().isEmpty() && b.getProject().isEmpty())) {
        add(path + (b.getOrganization().isEmpty() ? ".project" : ".organization"), "is only used by provider openai");
      }
      for (int h = 0; h < b.getForwardClientHeadersCount(); h++) {
        String header = b.getForwardClientHeaders(h).toLowerCase(java.util.Locale.ROOT);
        if (!header.matches("[a-z0-9!#$%&'*+.^_`|~-]+")) {
          add(path + ".forwardClientHeaders[" + h + "]", "is not a header name: \"" + b.getForwardClientHeaders(h) + "\"");
        } else if (header.equals("authorization") || header.equals("api-key")) {
          add(path + ".forwardClientHeaders[" + h + "]", "carries the client's Weir key, which never leaves the gateway");
        }
      }
      if (b.hasHealthCheck() && !b.getHealthCheck().getPath().startsWith("/")) {
        add(path + ".healthCheck.path", "must be an absolute path such as \"/health\"");
      }
      if (!b.hasCredential() || b.getCredential().getSourceCase()
          == dev.weir.config.v1.Credential.SourceCase.SOURCE_NOT_SET) {
        if (rule != null && rule.credentialRequired()) {
          add(path + ".credential", "is required for provider " + ProviderRules.yamlName(b.getProvider())
              + " ({ env: VAR } or { file: path })");
        }
        return;
      }
      if (b.getCredential().hasEntra()) {
        if (b.getProvider() != Provider.AZURE_OPENAI) {
          add(path + ".credential.entra", "Entra ID tokens are only used by provider azure-openai");
        }
        EntraCredentials.check(path + ".credential.entra", b.getCredential().getEntra(), env, checkCredentials,
            this::add);
        return;
      }
      if (rule != null && rule.signsWithAws()) {
        add(path + ".credential", ProviderRules.yamlName(b.getProvider())
            + " signs requests with AWS credentials; choose them with \"aws\" instead");
        return;
      }
      if (checkCredentials) {
        try {
          Credentials.resolve(b.getCredential(), env);
        } catch (Credentials.UnresolvableCredentialException e) {
          add(path + ".credential", e.getMessage());
        }
      }
    }

    private void checkAws(String path, Backend b, ProviderRules.Rule rule) {
      boolean aws = rule != null && rule.signsWithAws();
      if (!aws) {
        if (!b.getRegion().isEmpty()) {
          add(path + ".region", "is only used by provider bedrock");
        }
        if (b.hasAws()) {
          add(path + ".aws", "is only used by provider bedrock");
        }
        return;
      }
      if (b.getRegion().isEmpty()) {
        add(path + ".region", "is required for provider " + ProviderRules.yamlName(b.getProvider())
            + " (e.g. \"us-east-1\")");
      } else if (!b.getRegion().matches("[a-z]{2,4}(-[a-z]+)+-\\d+")) {
        add(path + ".region", "is not an AWS region name such as \"us-east-1\": \"" + b.getRegion() + "\"");
      }
      dev.weir.config.v1.AwsCredentials c = b.getAws();
      int sources = (c.getEnv() ? 1 : 0)
          + (c.getProfile().isEmpty() && c.getProfileFile().isEmpty() ? 0 : 1)
          + (c.getWebIdentityTokenFile().isEmpty() && c.getRoleArn().isEmpty() ? 0 : 1);
      if (sources > 1) {
        add(path + ".aws", "set only one source: env, profile/profileFile or webIdentityTokenFile/roleArn");
      }
      if (c.getWebIdentityTokenFile().isEmpty() != c.getRoleArn().isEmpty()) {
        add(path + ".aws", "webIdentityTokenFile and roleArn go together");
      }
      if (!c.getRoleSessionName().isEmpty() && c.getRoleArn().isEmpty()) {
        add(path + ".aws.roleSessionName", "is only used with webIdentityTokenFile and roleArn");
      }
      if (checkCredentials) {
        for (String file : List.of(c.getProfileFile(), c.getWebIdentityTokenFile())) {
          if (!file.isEmpty() && !Files.isReadable(Path.of(file))) {
            add(path + ".aws", "cannot read " + file);
          }
        }
      }
    }

    private void checkPool(String path, Pool pool, Map<String, Backend> backends) {
      if (pool.getMembersCount() == 0) {
        add(path + ".members", "a pool needs at least one member");
      }
      if (pool.getStrategy() == Strategy.SESSION && pool.getSessionHeader().isBlank()) {
        add(path + ".sessionHeader", "is required for strategy session (e.g. \"x-session-id\")");
      }
      if (pool.getStrategy() != Strategy.SESSION && !pool.getSessionHeader().isBlank()) {
        add(path + ".sessionHeader", "is only used by strategy session");
      }
      if (pool.getTimeouts().getTryHeadersSeconds() > pool.getTimeouts().getRequestSeconds()) {
        add(path + ".timeouts.tryHeadersSeconds", "is longer than requestSeconds ("
            + pool.getTimeouts().getRequestSeconds() + "), so it could never fire");
      }
      if (pool.getEjection().getMaxEjectionPercent() > 100) {
        add(path + ".ejection.maxEjectionPercent", "is a percentage (0-100)");
      }
      if (pool.hasBreaker()) {
        var breaker = pool.getBreaker();
        try {
          StatusRanges.parse(breaker.getStatusesList());
        } catch (IllegalArgumentException e) {
          add(path + ".breaker.statuses", e.getMessage());
        }
        if (breaker.getAllTrippedStatus() != 429 && breaker.getAllTrippedStatus() != 503) {
          add(path + ".breaker.allTrippedStatus", "must be 429 or 503");
        }
        if (breaker.getMaxTripSeconds() < breaker.getTripSeconds()) {
          add(path + ".breaker.maxTripSeconds", "is shorter than tripSeconds (" + breaker.getTripSeconds() + ")");
        }
        if (breaker.getMinTripMillis() > breaker.getMaxTripSeconds() * 1000L) {
          add(path + ".breaker.minTripMillis", "is longer than maxTripSeconds (" + breaker.getMaxTripSeconds() + " s)");
        }
      }
      dev.weir.config.v1.HealthCheck shared = null;
      for (PoolMember member : pool.getMembersList()) {
        Backend b = backends.get(member.getBackend());
        if (b == null || !b.hasHealthCheck()) {
          continue;
        }
        if (shared == null) {
          shared = b.getHealthCheck();
        } else if (!shared.equals(b.getHealthCheck())) {
          add(path + ".members", "backends in one pool must share one healthCheck (Envoy runs one"
              + " health checker per cluster); \"" + b.getName() + "\" differs");
          break;
        }
      }
      Set<String> seen = new HashSet<>();
      for (int m = 0; m < pool.getMembersCount(); m++) {
        PoolMember member = pool.getMembers(m);
        String mpath = path + ".members[" + m + "]";
        Backend backend = backends.get(member.getBackend());
        if (member.getBackend().isEmpty()) {
          add(mpath + ".backend", "is required");
          continue;
        }
        if (backend == null) {
          add(mpath + ".backend", "no backend named \"" + member.getBackend() + "\"");
          continue;
        }
        if (!seen.add(member.getBackend())) {
          add(mpath + ".backend", "backend \"" + member.getBackend() + "\" is already in this pool");
        }
        ProviderRules.Rule rule = ProviderRules.of(backend.getProvider());
        if (rule != null && rule.addressing() == ProviderRules.Addressing.DEPLOYMENT) {
          if (member.getDeployment().isEmpty()) {
            add(mpath + ".deployment", "is required: backend \"" + backend.getName() + "\" is "
                + ProviderRules.yamlName(backend.getProvider()) + ", which addresses models by deployment name");
          }
          if (!member.getModel().isEmpty()) {
            add(mpath + ".model", ProviderRules.yamlName(backend.getProvider())
                + " serves a deployment; set \"deployment\" instead");
          }
        } else if (!member.getDeployment().isEmpty()) {
          add(mpath + ".deployment", "is only used with azure-openai backends; set \"model\" instead");
        }
      }
    }

    private boolean name(String path, String name, String what) {
      if (name.isEmpty()) {
        add(path + ".name", "is required");
        return false;
      }
      if (!NAME.matcher(name).matches()) {
        add(path + ".name", what + " names use letters, digits, '.', '_' and '-' (at most 63),"
            + " found \"" + name + "\"");
        return false;
      }
      return true;
    }

    private void checkPort(String path, int port) {
      if (port > 65535) {
        add(path, "not a port number: " + port);
      }
    }

    void add(String path, String message) {
      problems.add(new ConfigProblem(path, lineOf(path), message));
    }

    private int lineOf(String path) {
      for (String p = path; !p.isEmpty(); ) {
        Integer line = lines.get(p);
        if (line != null) {
          return line;
        }
        int cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
        p = cut < 0 ? "" : p.substring(0, cut);
      }
      return 0;
    }
  }
}
