package dev.weir.extproc.mcp;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weir.config.Credentials;
import dev.weir.config.v1.Consumer;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.config.v1.McpAccess;
import dev.weir.config.v1.McpServer;
import dev.weir.extproc.openai.Json;
import java.net.URI;
import java.net.http.HttpClient;
import java.time.Clock;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;

/**
 * The MCP servers of the config in force, built once per config: where each is reached (path
 * prefix or host), its upstream credential, the tool names that may become metric labels, and each
 * consumer's tool policy per server. Shared by every exchange; thread-safe.
 */
public final class McpServers {
  /** The path prefix under which a server is reached: {@code /mcp/<name>}. */
  public static final String PREFIX = "/mcp/";
  /** RFC 9728 section 3.1: the well-known path inserted before the resource's path. */
  public static final String WELL_KNOWN = "/.well-known/oauth-protected-resource";
  /** The metric label of a tool that is neither configured nor learnt. */
  public static final String OTHER_TOOL = "other";

  /** One server at run time. */
  public static final class Server {
    private final McpServer config;
    private final String upstreamPath;
    private final UpstreamCredential credential;
    private final Set<String> toolLabels = ConcurrentHashMap.newKeySet();
    private final String metadataPath;
    private final String metadataUrl;
    private final RestTools rest;

    Server(McpServer config, UpstreamCredential credential, RestTools rest) {
      this.config = config;
      this.rest = rest;
      String path = URI.create(config.getUrl()).getRawPath();
      this.upstreamPath = path == null || path.isEmpty() ? "/" : path;
      this.credential = credential;
      toolLabels.addAll(config.getToolsList());
      if (rest != null) {
        toolLabels.addAll(rest.names());
      }
      if (config.hasOauth()) {
        URI resource = URI.create(config.getOauth().getResource());
        String resourcePath = resource.getRawPath() == null || resource.getRawPath().equals("/") ? "" : resource.getRawPath();
        this.metadataPath = WELL_KNOWN + resourcePath;
        this.metadataUrl = resource.getScheme() + "://" + resource.getRawAuthority() + metadataPath;
      } else {
        this.metadataPath = null;
        this.metadataUrl = null;
      }
    }

    public McpServer config() {
      return config;
    }

    public String name() {
      return config.getName();
    }

    /** The path of the server's MCP endpoint at its own host. */
    public String upstreamPath() {
      return upstreamPath;
    }

    /** The REST API the gateway serves as this MCP server's tools; null for a real MCP server. */
    public RestTools rest() {
      return rest;
    }

    /** Null when the server takes no credential from the gateway. */
    public UpstreamCredential credential() {
      return credential;
    }

    /** The tool's metric label: its name if configured or learnt, else {@link #OTHER_TOOL}. */
    public String toolLabel(String tool) {
      return tool != null && toolLabels.contains(tool) ? tool : OTHER_TOOL;
    }

    /** A tool name a tools/list answer of the server named (bounded by maxToolLabels). */
    public void learnTool(String tool) {
      if (tool != null && toolLabels.size() < config.getMaxToolLabels() && tool.matches("[A-Za-z0-9_.\\-/]{1,128}")) {
        toolLabels.add(tool);
      }
    }

    /** Where its protected-resource metadata is served (null without oauth). */
    public String metadataUrl() {
      return metadataUrl;
    }

    /** The RFC 9728 metadata document. */
    public byte[] metadata() {
      ObjectNode doc = Json.MAPPER.createObjectNode().put("resource", config.getOauth().getResource());
      ArrayNode servers = doc.putArray("authorization_servers");
      config.getOauth().getAuthorizationServersList().forEach(servers::add);
      if (config.getOauth().getScopesCount() > 0) {
        ArrayNode scopes = doc.putArray("scopes_supported");
        config.getOauth().getScopesList().forEach(scopes::add);
      }
      doc.putArray("bearer_methods_supported").add("header");
      doc.put("resource_name", config.getName());
      return Json.bytes(doc);
    }

    /** The 401 challenge (RFC 9728 section 5.1, RFC 6750 section 3). */
    public String challenge(String error) {
      StringBuilder c = new StringBuilder("Bearer resource_metadata=\"").append(metadataUrl).append('"');
      if (config.getOauth().getScopesCount() > 0) {
        c.append(", scope=\"").append(String.join(" ", config.getOauth().getScopesList())).append('"');
      }
      if (error != null) {
        c.append(", error=\"").append(error).append('"');
      }
      return c.toString();
    }
  }

  /** What a request path and host resolve to. */
  public sealed interface Target permits Endpoint, Metadata {}

  /** The MCP endpoint of {@code server}; {@code upstreamPath} is what the server is sent. */
  public record Endpoint(Server server, String upstreamPath) implements Target {}

  /** The protected-resource metadata of {@code server}. */
  public record Metadata(Server server) implements Target {}

  private final Map<String, Server> byName = new HashMap<>();
  private final Map<String, Server> byHost = new HashMap<>();
  private final Map<String, Server> byMetadataPath = new HashMap<>();
  private final Map<String, Map<String, ToolPolicy>> policies = new HashMap<>();

  public McpServers(GatewayConfig config, Function<String, String> env) throws Credentials.UnresolvableCredentialException {
    this(config, env, HttpClient.newBuilder().connectTimeout(java.time.Duration.ofSeconds(5)).build(), Clock.systemUTC());
  }

  McpServers(GatewayConfig config, Function<String, String> env, HttpClient http, Clock clock)
      throws Credentials.UnresolvableCredentialException {
    for (McpServer s : config.getMcpServersList()) {
      UpstreamCredential credential = s.hasCredential() ? new UpstreamCredential(s.getCredential(), env, http, clock) : null;
      Server server = new Server(s, credential, s.hasRest() ? new RestTools(s, http) : null);
      byName.put(s.getName(), server);
      if (!s.getHost().isEmpty()) {
        byHost.put(s.getHost().toLowerCase(Locale.ROOT), server);
      }
      if (server.metadataPath != null) {
        byMetadataPath.put(server.metadataPath, server);
      }
    }
    for (Consumer c : config.getConsumersList()) {
      Map<String, ToolPolicy> mine = new HashMap<>();
      for (McpAccess access : c.getMcpList()) {
        mine.put(access.getServer(), new ToolPolicy(access));
      }
      policies.put(c.getName(), Map.copyOf(mine));
    }
  }

  public boolean any() {
    return !byName.isEmpty();
  }

  public Server server(String name) {
    return byName.get(name);
  }

  /** The consumer's policy for the server, or null when it has no access to it at all. */
  public ToolPolicy policy(String consumer, String server) {
    return policies.getOrDefault(consumer, Map.of()).get(server);
  }

  /**
   * What {@code path} (without its query) on {@code authority} addresses, or null when it is not
   * MCP traffic (the model API then handles it).
   */
  public Target resolve(String path, String authority) {
    if (byName.isEmpty()) {
      return null;
    }
    Server meta = byMetadataPath.get(path);
    if (meta != null) {
      return new Metadata(meta);
    }
    if (authority != null && !byHost.isEmpty()) {
      Server host = byHost.get(authority.toLowerCase(Locale.ROOT));
      if (host == null && authority.contains(":")) {
        host = byHost.get(authority.substring(0, authority.lastIndexOf(':')).toLowerCase(Locale.ROOT));
      }
      if (host != null) {
        if (path.startsWith(WELL_KNOWN) && host.metadataPath != null) {
          return new Metadata(host);
        }
        // The whole host is the server: its path goes upstream as the client sent it.
        return new Endpoint(host, path);
      }
    }
    if (path.startsWith(PREFIX)) {
      String rest = path.substring(PREFIX.length());
      int slash = rest.indexOf('/');
      Server s = byName.get(slash < 0 ? rest : rest.substring(0, slash));
      if (s != null) {
        String tail = slash < 0 ? "" : rest.substring(slash);
        String base = s.upstreamPath();
        return new Endpoint(s, tail.isEmpty() ? base : (base.endsWith("/") ? base.substring(0, base.length() - 1) : base) + tail);
      }
    }
    return null;
  }
}
