package dev.weir.config;

import dev.weir.config.v1.Provider;
import java.util.EnumMap;
import java.util.Map;

/**
 * What each provider needs from the config, as one table next to the schema: the loader checks
 * backends and pool members against it, so a new provider is a new row here, not new branches.
 */
public final class ProviderRules {
  /** How a pool member names the model on a backend. */
  public enum Addressing {
    /** By the {@code model} in the body (default: the client's). */
    MODEL,
    /** By a deployment in the URL path; the body's model is ignored. */
    DEPLOYMENT
  }

  /**
   * @param credentialRequired a backend without {@code credential} is refused
   * @param apiVersionRequired {@code apiVersion} is required (and only allowed) for this provider
   * @param addressing how members name the model
   */
  public record Rule(Provider provider, boolean credentialRequired, boolean apiVersionRequired,
      Addressing addressing) {}

  private static final Map<Provider, Rule> RULES = new EnumMap<>(Provider.class);

  static {
    row(Provider.OPENAI, true, false, Addressing.MODEL);
    row(Provider.AZURE_OPENAI, true, true, Addressing.DEPLOYMENT);
    row(Provider.OPENAI_COMPATIBLE, false, false, Addressing.MODEL);
  }

  private static void row(Provider p, boolean credential, boolean apiVersion, Addressing addressing) {
    RULES.put(p, new Rule(p, credential, apiVersion, addressing));
  }

  private ProviderRules() {}

  /** The rule for a provider, or null for one the gateway does not know (unspecified). */
  public static Rule of(Provider provider) {
    return RULES.get(provider);
  }

  /** The provider's name as the YAML spells it ({@code azure-openai}). */
  public static String yamlName(Provider provider) {
    return YamlProtoReader.yamlName(provider.getValueDescriptor());
  }
}
