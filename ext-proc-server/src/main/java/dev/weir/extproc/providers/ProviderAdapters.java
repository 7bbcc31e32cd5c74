package dev.weir.extproc.providers;

import dev.weir.config.v1.Provider;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/** The adapter for each provider: one row per provider. */
public final class ProviderAdapters {
  /**
   * Client headers no backend receives unless its config forwards them: credentials (the router
   * pass removed the client's own already; a previous Bedrock attempt of the same request may have
   * left an AWS session token, since a retry starts from the headers the previous attempt's
   * upstream filters left), account selectors a client must not choose (the backend's
   * organization and project come from its config), and browser or proxy state. Envoy's
   * {@code x-envoy-*} headers cannot be removed by ext_proc (its mutation rules refuse it); the
   * listener's {@code use_remote_address} makes Envoy drop them from external requests.
   */
  public static final List<String> STRIPPED_CLIENT_HEADERS = List.of("authorization", "api-key", "x-api-key",
      "x-amz-security-token", "openai-organization", "openai-project", "cookie", "proxy-authorization",
      "x-goog-api-key", "x-ms-client-request-id");

  private static final Map<Provider, ProviderAdapter> ADAPTERS = new EnumMap<>(Provider.class);

  static {
    ADAPTERS.put(Provider.OPENAI, new OpenAiAdapter());
    ADAPTERS.put(Provider.OPENAI_COMPATIBLE, new OpenAiAdapter());
    ADAPTERS.put(Provider.AZURE_OPENAI, new AzureOpenAiAdapter());
    ADAPTERS.put(Provider.ANTHROPIC, new AnthropicAdapter());
    ADAPTERS.put(Provider.BEDROCK, new BedrockAdapter());
  }

  private ProviderAdapters() {}

  /** The adapter for a provider the config loader accepted. */
  public static ProviderAdapter of(Provider provider) {
    ProviderAdapter adapter = ADAPTERS.get(provider);
    if (adapter == null) {
      throw new IllegalStateException("provider " + provider + " passed config validation but has no adapter");
    }
    return adapter;
  }

  /**
   * The stripped client headers an attempt removes: those the adapter does not set itself
   * (removing only these keeps the mutation independent of whether Envoy applies removals before
   * or after sets) and the backend does not forward.
   */
  static List<String> strippedHeaders(Map<String, String> set, dev.weir.extproc.routing.BackendTarget backend) {
    java.util.Set<String> forwarded = backend.forwardedClientHeaders();
    return STRIPPED_CLIENT_HEADERS.stream().filter(h -> !set.containsKey(h) && !forwarded.contains(h)).toList();
  }
}
