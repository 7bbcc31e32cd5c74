package dev.weir.testkit;

import io.envoyproxy.envoy.config.route.v3.HeaderMatcher;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import java.util.Locale;

/**
 * Route selection over a real {@link RouteConfiguration}, as source/common/router/config_impl.cc
 * does it: the virtual host is found by the most specific domain (exact, then the longest suffix
 * wildcard {@code *.x}, then the longest prefix wildcard {@code x.*}, then {@code *};
 * RouteMatcher::findVirtualHost), matching the {@code :authority} as sent, port included; the
 * first route of that host whose path and headers match wins.
 */
final class RouteTable {
  private final RouteConfiguration routes;

  RouteTable(RouteConfiguration routes) {
    this.routes = routes;
  }

  Route match(HeaderList headers) {
    VirtualHost vh = virtualHost(headers.get(":authority"));
    if (vh == null) {
      return null;
    }
    String path = headers.get(":path");
    for (Route r : vh.getRoutesList()) {
      if (routeMatches(r, path, headers)) {
        return r;
      }
    }
    return null;
  }

  /** The matching virtual host's include_attempt_count_in_response. */
  boolean includeAttemptCountInResponse(HeaderList headers) {
    VirtualHost vh = virtualHost(headers.get(":authority"));
    return vh != null && vh.getIncludeAttemptCountInResponse();
  }

  private VirtualHost virtualHost(String authority) {
    String host = authority == null ? "" : authority.toLowerCase(Locale.ROOT);
    VirtualHost suffix = null;
    int suffixLength = -1;
    VirtualHost prefix = null;
    int prefixLength = -1;
    VirtualHost fallback = null;
    for (VirtualHost vh : routes.getVirtualHostsList()) {
      for (String domain : vh.getDomainsList()) {
        String d = domain.toLowerCase(Locale.ROOT);
        if (d.equals("*")) {
          fallback = fallback == null ? vh : fallback;
        } else if (d.startsWith("*")) {
          if (host.endsWith(d.substring(1)) && host.length() > d.length() - 1 && d.length() > suffixLength) {
            suffix = vh;
            suffixLength = d.length();
          }
        } else if (d.endsWith("*")) {
          if (host.startsWith(d.substring(0, d.length() - 1)) && host.length() > d.length() - 1
              && d.length() > prefixLength) {
            prefix = vh;
            prefixLength = d.length();
          }
        } else if (d.equals(host)) {
          return vh;
        }
      }
    }
    return suffix != null ? suffix : prefix != null ? prefix : fallback;
  }

  private static boolean routeMatches(Route r, String path, HeaderList headers) {
    var m = r.getMatch();
    String p = path.contains("?") ? path.substring(0, path.indexOf('?')) : path;
    boolean pathOk = switch (m.getPathSpecifierCase()) {
      case PREFIX -> p.startsWith(m.getPrefix());
      case PATH -> p.equals(m.getPath());
      case SAFE_REGEX -> p.matches(m.getSafeRegex().getRegex());
      case PATH_SEPARATED_PREFIX -> p.equals(m.getPathSeparatedPrefix()) || p.startsWith(m.getPathSeparatedPrefix() + "/");
      default -> false;
    };
    if (!pathOk) {
      return false;
    }
    for (HeaderMatcher hm : m.getHeadersList()) {
      if (!headerMatches(hm, headers)) {
        return false;
      }
    }
    return true;
  }

  /** One HeaderMatcher against a header map (source/common/http/header_utility.cc HeaderData::matchesHeaders). */
  static boolean headerMatches(HeaderMatcher hm, HeaderList headers) {
    String v = headers.get(hm.getName());
    boolean ok = switch (hm.getHeaderMatchSpecifierCase()) {
      case STRING_MATCH -> v != null && stringMatches(hm.getStringMatch(), v);
      case EXACT_MATCH -> v != null && v.equals(hm.getExactMatch());
      case PRESENT_MATCH -> (v != null) == hm.getPresentMatch();
      case PREFIX_MATCH -> v != null && v.startsWith(hm.getPrefixMatch());
      default -> v != null;
    };
    return ok != hm.getInvertMatch();
  }

  private static boolean stringMatches(StringMatcher sm, String v) {
    String value = sm.getIgnoreCase() ? v.toLowerCase(Locale.ROOT) : v;
    return switch (sm.getMatchPatternCase()) {
      case EXACT -> sm.getIgnoreCase() ? v.equalsIgnoreCase(sm.getExact()) : v.equals(sm.getExact());
      case PREFIX -> value.startsWith(sm.getIgnoreCase() ? sm.getPrefix().toLowerCase(Locale.ROOT) : sm.getPrefix());
      case SUFFIX -> value.endsWith(sm.getIgnoreCase() ? sm.getSuffix().toLowerCase(Locale.ROOT) : sm.getSuffix());
      case CONTAINS -> value.contains(sm.getIgnoreCase() ? sm.getContains().toLowerCase(Locale.ROOT) : sm.getContains());
      case SAFE_REGEX -> v.matches(sm.getSafeRegex().getRegex());
      default -> false;
    };
  }
}
