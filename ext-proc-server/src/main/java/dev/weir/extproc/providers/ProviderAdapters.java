package dev.weir.extproc.providers;

import dev.weir.config.v1.Provider;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/** The adapter for each provider: one row per provider. */
public final class ProviderAdapters {
  /**
   * Client credentials never reach a backend (the router pass removed them already); nor does the
   * AWS session token an earlier Bedrock attempt of the same request carried (a retry starts from
   * the headers the previous attempt's upstream filters left).
   */
  static final List<String> CLIENT_CREDENTIALS = List.of("authorization", "api-key", "x-amz-security-token");

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
   * The client credential headers an adapter does not set itself: removing only these keeps the
   * mutation independent of whether Envoy applies removals before or after sets.
   */
  static List<String> clientCredentialsNotSet(Map<String, String> set) {
    return CLIENT_CREDENTIALS.stream().filter(h -> !set.containsKey(h)).toList();
  }
}
