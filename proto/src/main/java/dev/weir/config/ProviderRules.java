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

  /** Whether a backend of the provider takes {@code apiVersion}. */
  public enum ApiVersion { REQUIRED, OPTIONAL, UNUSED }

  /**
   * @param credentialRequired a backend without {@code credential} is refused
   * @param apiVersion whether {@code apiVersion} is required, optional or refused
   * @param addressing how members name the model
   * @param usesMaxTokensDefault whether {@code defaultMaxTokens} applies
   * @param signsWithAws requests are signed with AWS Signature V4: {@code region} is required,
   *     {@code aws} chooses the credentials and {@code credential} is refused
   */
  public record Rule(Provider provider, boolean credentialRequired, ApiVersion apiVersion,
      Addressing addressing, boolean usesMaxTokensDefault, boolean signsWithAws) {}

  private static final Map<Provider, Rule> RULES = new EnumMap<>(Provider.class);

  static {
    row(Provider.OPENAI, true, ApiVersion.UNUSED, Addressing.MODEL, false, false);
    row(Provider.AZURE_OPENAI, true, ApiVersion.REQUIRED, Addressing.DEPLOYMENT, false, false);
    row(Provider.OPENAI_COMPATIBLE, false, ApiVersion.UNUSED, Addressing.MODEL, false, false);
    row(Provider.ANTHROPIC, true, ApiVersion.OPTIONAL, Addressing.MODEL, true, false);
    // Members name the Bedrock model ID (or inference profile) with "model".
    row(Provider.BEDROCK, false, ApiVersion.UNUSED, Addressing.MODEL, false, true);
  }

  private static void row(Provider p, boolean credential, ApiVersion apiVersion, Addressing addressing,
      boolean maxTokensDefault, boolean signsWithAws) {
    RULES.put(p, new Rule(p, credential, apiVersion, addressing, maxTokensDefault, signsWithAws));
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
