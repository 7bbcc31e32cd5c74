package dev.weir.config;

import dev.weir.config.v1.ClaimMatch;
import dev.weir.config.v1.Consumer;
import dev.weir.config.v1.GatewayConfig;
import dev.weir.config.v1.IdentityProvider;
import dev.weir.config.v1.TokenMatch;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.BiConsumer;

/** The loader's rules for identityProviders and consumers' token matchers. */
final class IdentityRules {
  private IdentityRules() {}

  static void checkProviders(GatewayConfig config, BiConsumer<String, String> problem) {
    Set<String> names = new HashSet<>();
    Set<String> issuers = new HashSet<>();
    for (int i = 0; i < config.getIdentityProvidersCount(); i++) {
      IdentityProvider p = config.getIdentityProviders(i);
      String path = "identityProviders[" + i + "]";
      if (p.getName().isBlank()) {
        problem.accept(path + ".name", "is required");
      } else if (!names.add(p.getName())) {
        problem.accept(path + ".name", "duplicate identity provider name \"" + p.getName() + "\"");
      }
      if (p.getIssuer().isBlank()) {
        problem.accept(path + ".issuer", "is required (the exact \"iss\" of its tokens)");
      } else if (!issuers.add(p.getIssuer())) {
        // A token names its issuer, and that picks the provider: two with one issuer are ambiguous.
        problem.accept(path + ".issuer", "another identity provider has the same issuer");
      }
      if (p.getAudiencesCount() == 0) {
        problem.accept(path + ".audiences", "at least one audience is required (tokens for other"
            + " applications must not be accepted)");
      }
      if (!p.getJwksUri().isEmpty()) {
        checkUrl(path + ".jwksUri", p.getJwksUri(), problem);
      } else if (!p.getDiscoveryUri().isEmpty()) {
        checkUrl(path + ".discoveryUri", p.getDiscoveryUri(), problem);
      } else if (!p.getIssuer().isBlank()) {
        checkUrl(path + ".issuer", p.getIssuer(), problem);
      }
      checkClaims(path + ".requiredClaims", p.getRequiredClaimsList(), problem);
      if (p.getJwksWaitMillis() > 30_000) {
        problem.accept(path + ".jwksWaitMillis", "at most 30000: a request waits this long on a cold cache");
      }
    }
  }

  static void checkTokens(String path, Consumer c, GatewayConfig config, Set<String> models,
      BiConsumer<String, String> problem) {
    Set<String> providers = new HashSet<>();
    config.getIdentityProvidersList().forEach(p -> providers.add(p.getName()));
    Set<String> consumerModels = new HashSet<>(c.getModelsList());
    for (int t = 0; t < c.getTokensCount(); t++) {
      TokenMatch match = c.getTokens(t);
      String tpath = path + ".tokens[" + t + "]";
      if (match.getProvider().isEmpty()) {
        problem.accept(tpath + ".provider", "is required");
      } else if (!providers.contains(match.getProvider())) {
        problem.accept(tpath + ".provider", "no identity provider named \"" + match.getProvider() + "\"");
      }
      if (match.getClaimsCount() == 0) {
        // Without a claim every user and app of the issuer would be this consumer.
        problem.accept(tpath + ".claims", "at least one claim is required (appid, azp, roles, groups, tid, ...)");
      }
      checkClaims(tpath + ".claims", match.getClaimsList(), problem);
      for (int m = 0; m < match.getModelsCount(); m++) {
        String model = match.getModels(m);
        if (!consumerModels.contains("*") && !consumerModels.contains(model)) {
          problem.accept(tpath + ".models[" + m + "]", "not among the consumer's models");
        } else if (!model.equals("*") && !models.contains(model)) {
          problem.accept(tpath + ".models[" + m + "]", "no model named \"" + model + "\"");
        }
      }
    }
  }

  private static void checkClaims(String path, List<ClaimMatch> claims, BiConsumer<String, String> problem) {
    for (int i = 0; i < claims.size(); i++) {
      if (claims.get(i).getClaim().isBlank()) {
        problem.accept(path + "[" + i + "].claim", "is required");
      }
      if (claims.get(i).getValuesCount() == 0) {
        problem.accept(path + "[" + i + "].values", "at least one value is required");
      }
    }
  }

  private static void checkUrl(String path, String url, BiConsumer<String, String> problem) {
    try {
      URI uri = new URI(url);
      if (!("https".equals(uri.getScheme()) || "http".equals(uri.getScheme())) || uri.getHost() == null) {
        problem.accept(path, "must be an http:// or https:// URL, found \"" + url + "\"");
      }
    } catch (URISyntaxException e) {
      problem.accept(path, "not a URL: " + e.getMessage());
    }
  }
}
