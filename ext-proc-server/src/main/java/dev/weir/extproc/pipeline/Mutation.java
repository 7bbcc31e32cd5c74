package dev.weir.extproc.pipeline;

import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;

/**
 * What the stages of one phase want changed: headers to set and remove, a replacement body, and
 * whether Envoy must re-pick the route. The runner turns it into one ext_proc answer.
 */
public final class Mutation {
  private final Map<String, String> set = new LinkedHashMap<>();
  private final Set<String> remove = new LinkedHashSet<>();
  private byte[] body;
  private boolean clearRouteCache;

  /** Sets (overwrites) a header. */
  public Mutation setHeader(String name, String value) {
    remove.remove(name);
    set.put(name, value);
    return this;
  }

  public Mutation removeHeader(String name) {
    set.remove(name);
    remove.add(name);
    return this;
  }

  /** Replaces the whole body of this phase (request body, or a buffered response body). */
  public Mutation replaceBody(byte[] replacement) {
    body = replacement;
    return this;
  }

  /** Envoy matched the route before the filter ran; this makes it match again. */
  public Mutation clearRouteCache() {
    clearRouteCache = true;
    return this;
  }

  public Map<String, String> headersToSet() {
    return set;
  }

  public Set<String> headersToRemove() {
    return remove;
  }

  /** The replacement body, or null to keep the body as it is. */
  public byte[] body() {
    return body;
  }

  public boolean clearsRouteCache() {
    return clearRouteCache;
  }

  public boolean isEmpty() {
    return set.isEmpty() && remove.isEmpty() && body == null && !clearRouteCache;
  }
}
