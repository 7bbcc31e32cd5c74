package dev.weir.extproc.auth;

import com.nimbusds.jwt.JWTClaimsSet;
import dev.weir.config.v1.ClaimMatch;
import dev.weir.config.v1.Consumer;
import dev.weir.config.v1.TokenMatch;
import dev.weir.extproc.identity.IdentityProviders;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Maps a validated token to the consumer whose {@code tokens} matcher it satisfies (first in config
 * order), with the models that matcher allows.
 */
final class TokenConsumers {
  private record Rule(String provider, List<ClaimMatch> claims, Caller caller) {}

  private final List<Rule> rules = new ArrayList<>();

  TokenConsumers(List<Consumer> consumers) {
    for (Consumer c : consumers) {
      for (TokenMatch match : c.getTokensList()) {
        Set<String> models = new HashSet<>(match.getModelsCount() > 0 ? match.getModelsList() : c.getModelsList());
        rules.add(new Rule(match.getProvider(), match.getClaimsList(),
            new Caller(c.getName(), Set.copyOf(models), models.contains("*"))));
      }
    }
  }

  /** The caller a token of {@code provider} is, or null when no consumer accepts it. */
  Caller find(String provider, JWTClaimsSet claims) {
    for (Rule rule : rules) {
      if (rule.provider().equals(provider)
          && rule.claims().stream().allMatch(m -> IdentityProviders.matches(claims, m))) {
        return rule.caller();
      }
    }
    return null;
  }
}
