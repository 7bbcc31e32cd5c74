package dev.weir.testkit;

import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.envoyproxy.envoy.service.ext_proc.v3.HeaderMutation;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Applies an ext_proc header mutation under Envoy 1.34's default mutation rules
 * (source/extensions/filters/http/ext_proc/mutation_utils.cc MutationUtils::applyHeaderMutations
 * with source/extensions/filters/common/mutation_rules/mutation_rules.cc Checker): refused
 * mutations are counted and skipped; an invalid name or value fails the whole answer.
 */
final class HeaderMutations {
  private static final Set<String> UNSETTABLE = Set.of("host", ":authority", ":scheme", ":method");
  /** Http::HeaderUtility::headerNameIsValid: an RFC 7230 token, optionally after one ':'. */
  private static final Pattern VALID_NAME = Pattern.compile(":?[!#$%&'*+\\-.^_`|~0-9a-z]+");

  private HeaderMutations() {}

  /** Applies a header mutation; false when it is invalid (the exchange then fails with 500). */
  static boolean apply(HeaderMutation mutation, HeaderList headers, EnvoyStats stats) {
    for (String remove : mutation.getRemoveHeadersList()) {
      String n = remove.toLowerCase(Locale.ROOT);
      if (!VALID_NAME.matcher(n).matches()) {
        return false;
      }
      if (n.startsWith(":") || n.equals("host") || n.startsWith("x-envoy-")) {
        stats.rejectedHeaderMutations.incrementAndGet();
        continue;
      }
      headers.remove(n);
    }
    for (HeaderValueOption option : mutation.getSetHeadersList()) {
      HeaderValue h = option.getHeader();
      String n = h.getKey().toLowerCase(Locale.ROOT);
      if (!h.getValue().isEmpty() && !h.getRawValue().isEmpty()) {
        return false; // mutation_utils.cc: value and raw_value both set
      }
      String value = h.getRawValue().isEmpty() ? h.getValue() : h.getRawValue().toStringUtf8();
      if (!VALID_NAME.matcher(n).matches() || value.indexOf('\r') >= 0 || value.indexOf('\n') >= 0
          || value.indexOf('\0') >= 0) {
        return false;
      }
      // The deprecated append flag is the only one read; append_action is ignored (issue #36982).
      boolean append = option.hasAppend() && option.getAppend().getValue();
      // Appending to a header that exists is an APPEND check, refused for ':' headers.
      if (UNSETTABLE.contains(n) || n.startsWith("x-envoy-") || (append && n.startsWith(":") && headers.contains(n))) {
        stats.rejectedHeaderMutations.incrementAndGet();
        continue;
      }
      if (append) {
        headers.add(n, value);
      } else {
        headers.set(n, value);
      }
    }
    return true;
  }
}
