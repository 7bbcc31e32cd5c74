package dev.weir.config;

import dev.weir.config.v1.Consumer;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.config.v1.McpAccess;
import dev.weir.config.v1.McpServer;
import java.net.URI;
import java.util.HashSet;
import java.util.Set;
import java.util.function.BiConsumer;
import java.util.function.Function;
import java.util.regex.Pattern;

/** The loader's rules for mcpServers and consumers' MCP access. */
final class McpRules {
  /** A name that is also one path segment and one metric label value. */
  private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,62}");
  /** Tool names and patterns: what MCP's SHOULD for tool names allows, plus '*'. */
  private static final Pattern TOOL = Pattern.compile("[A-Za-z0-9_.*/-]{1,128}");

  private McpRules() {}

  static void check(GatewayConfig config, boolean checkCredentials, Function<String, String> env,
      BiConsumer<String, String> problem) {
    Set<String> names = new HashSet<>();
    Set<String> hosts = new HashSet<>();
    Set<String> issuers = new HashSet<>();
    config.getIdentityProvidersList().forEach(p -> issuers.add(p.getIssuer()));
    for (int i = 0; i < config.getMcpServersCount(); i++) {
      McpServer s = config.getMcpServers(i);
      String path = "mcpServers[" + i + "]";
      if (!NAME.matcher(s.getName()).matches()) {
        problem.accept(path + ".name", "must be 1-63 letters, digits, '.', '_' or '-', found \"" + s.getName() + "\"");
      } else if (!names.add(s.getName())) {
        problem.accept(path + ".name", "duplicate MCP server name \"" + s.getName() + "\"");
      }
      checkUrl(path + ".url", s.getUrl(), problem);
      if (!s.getHost().isEmpty()) {
        if (!s.getHost().matches("[A-Za-z0-9.-]+(:[0-9]{1,5})?")) {
          problem.accept(path + ".host", "must be a host name (and optional port), found \"" + s.getHost() + "\"");
        } else if (!hosts.add(s.getHost().toLowerCase(java.util.Locale.ROOT))) {
          problem.accept(path + ".host", "another MCP server has the same host");
        }
      }
      for (int t = 0; t < s.getToolsCount(); t++) {
        if (!TOOL.matcher(s.getTools(t)).matches() || s.getTools(t).contains("*")) {
          problem.accept(path + ".tools[" + t + "]", "must be a tool name, found \"" + s.getTools(t) + "\"");
        }
      }
      if (s.hasCredential()) {
        checkCredential(path + ".credential", s, checkCredentials, env, problem);
      }
      if (s.hasRest()) {
        if (s.getRest().getOpenapi().isEmpty()) {
          problem.accept(path + ".rest.openapi", "is required: the API's OpenAPI 3 document (a file)");
        } else if (!java.nio.file.Files.isReadable(java.nio.file.Path.of(s.getRest().getOpenapi()))) {
          problem.accept(path + ".rest.openapi", "cannot read " + s.getRest().getOpenapi());
        }
        if (s.getRest().getOperationsCount() == 0) {
          problem.accept(path + ".rest.operations", "list the operationIds to expose as tools");
        }
        if (!s.getHost().isEmpty()) {
          problem.accept(path + ".host", "a REST API is served at /mcp/" + s.getName() + " only");
        }
      }
      if (s.hasOauth()) {
        var oauth = s.getOauth();
        if (oauth.getResource().isEmpty()) {
          problem.accept(path + ".oauth.resource", "is required: the URI clients ask tokens for, e.g."
              + " https://gateway.example.com/mcp/" + s.getName());
        } else {
          checkUrl(path + ".oauth.resource", oauth.getResource(), problem);
        }
        if (oauth.getAuthorizationServersCount() == 0) {
          problem.accept(path + ".oauth.authorizationServers", "name at least one issuer of identityProviders");
        }
        for (int a = 0; a < oauth.getAuthorizationServersCount(); a++) {
          if (!issuers.contains(oauth.getAuthorizationServers(a))) {
            problem.accept(path + ".oauth.authorizationServers[" + a + "]", "no identity provider has issuer \""
                + oauth.getAuthorizationServers(a) + "\" (its tokens could not be validated)");
          }
        }
      }
    }
    for (int i = 0; i < config.getConsumersCount(); i++) {
      Consumer c = config.getConsumers(i);
      Set<String> seen = new HashSet<>();
      for (int m = 0; m < c.getMcpCount(); m++) {
        McpAccess access = c.getMcp(m);
        String path = "consumers[" + i + "].mcp[" + m + "]";
        if (!names.contains(access.getServer())) {
          problem.accept(path + ".server", "no MCP server named \"" + access.getServer() + "\"");
        } else if (!seen.add(access.getServer())) {
          problem.accept(path + ".server", "this consumer already lists server \"" + access.getServer() + "\"");
        }
        for (int a = 0; a < access.getAllowCount(); a++) {
          checkPattern(path + ".allow[" + a + "]", access.getAllow(a), problem);
        }
        for (int d = 0; d < access.getDenyCount(); d++) {
          checkPattern(path + ".deny[" + d + "]", access.getDeny(d), problem);
        }
      }
    }
  }

  private static void checkCredential(String path, McpServer s, boolean checkCredentials, Function<String, String> env,
      BiConsumer<String, String> problem) {
    var credential = s.getCredential();
    if (!credential.getHeader().matches("[A-Za-z0-9-]+")) {
      problem.accept(path + ".header", "must be a header name, found \"" + credential.getHeader() + "\"");
    }
    switch (credential.getSourceCase()) {
      case KEY -> {
        var key = credential.getKey();
        if (key.getSourceCase() == dev.weir.config.v1.SecretSource.SourceCase.SOURCE_NOT_SET) {
          problem.accept(path + ".key", "set { env: VAR } or { file: path }");
        } else if (checkCredentials) {
          try {
            EntraCredentials.secret(key, env);
          } catch (Credentials.UnresolvableCredentialException e) {
            problem.accept(path + ".key", e.getMessage());
          }
        }
      }
      case CLIENTCREDENTIALS -> {
        var cc = credential.getClientCredentials();
        checkUrl(path + ".clientCredentials.tokenUrl", cc.getTokenUrl(), problem);
        if (cc.getClientId().isEmpty()) {
          problem.accept(path + ".clientCredentials.clientId", "is required");
        }
        if (!cc.hasClientSecret()) {
          problem.accept(path + ".clientCredentials.clientSecret", "is required: { env: VAR } or { file: path }");
        }
      }
      default -> problem.accept(path, "set key: { env | file } or clientCredentials: { tokenUrl, clientId, clientSecret }");
    }
  }

  private static void checkPattern(String path, String pattern, BiConsumer<String, String> problem) {
    if (!TOOL.matcher(pattern).matches()) {
      problem.accept(path, "must be a tool name or a pattern with '*', found \"" + pattern + "\"");
    }
  }

  private static void checkUrl(String path, String url, BiConsumer<String, String> problem) {
    if (url.isEmpty()) {
      problem.accept(path, "is required");
      return;
    }
    try {
      URI u = new URI(url);
      if (!("http".equals(u.getScheme()) || "https".equals(u.getScheme())) || u.getHost() == null) {
        problem.accept(path, "must be an http(s) URL with a host, found \"" + url + "\"");
      }
    } catch (java.net.URISyntaxException e) {
      problem.accept(path, "is not a URL: " + e.getMessage());
    }
  }
}
