package dev.weir.extproc.safety;

import java.util.Map;

/** One made-up value per PII kind and secret rule, shaped as real ones are (none is a live credential). */
public final class SecretSamples {
  private SecretSamples() {}

  public static final Map<String, String> PII = Map.of(
      "email", "jane.roe@example.org",
      "phone", "+44 20 7946 0958",
      "card", "4111 1111 1111 1111",
      "iban", "DE89 3704 0044 0532 0130 00",
      "ssn", "536-22-1234",
      "ip", "203.0.113.77");

  public static final Map<String, String> SECRETS = Map.ofEntries(
      Map.entry("anthropic_key", "sk-ant-api03-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7dEf0hIj3kLm6nOp9qRs2tUv5wXy8zAb1dEf4h"),
      Map.entry("openai_key", "sk-proj-" + "Zx9Cv8Bn7Mq6Wf5Er4Ty3Ui2Op1AsDfGhJkLzXcVbNm1Qw2Er3Ty4Ui5Op6As7Df8"),
      Map.entry("aws_access_key", "AKIA" + "IOSFODNN7EXAMPLE"),
      Map.entry("github_token", "ghp_" + "aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hI6"),
      Map.entry("gitlab_token", "glpat-" + "xY7zQ3wE9rT5yU1iO4pA"),
      Map.entry("slack_token", "xoxb-" + "2048-1024-AbCdEfGhIjKl"),
      Map.entry("stripe_key", "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"),
      Map.entry("google_api_key", "AIza" + "SyD4-7xQ2mN9pL3kJ8hG6fD1sA5zX0cV7bN"),
      Map.entry("huggingface_token", "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh"),
      Map.entry("jwt", "eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
      Map.entry("private_key", "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n"
          + "-----END RSA PRIVATE KEY-----"),
      Map.entry("password_assignment", "Tr0ub4dor&3xQz9"));

  /** The sentence a secret sample is embedded in (the generic rule needs its keyword). */
  static String sentenceFor(String rule, String value) {
    return rule.equals("password_assignment") ? "the db password: " + value + " is new" : "use " + value + " here";
  }
}
