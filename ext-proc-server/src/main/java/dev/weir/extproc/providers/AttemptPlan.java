package dev.weir.extproc.providers;

import java.util.List;
import java.util.Map;

/**
 * How one attempt must be rewritten for its backend: the path, headers to set and to remove, and
 * whether the body must be rewritten too ({@link ProviderAdapter#rewriteBody}).
 */
public record AttemptPlan(String path, Map<String, String> setHeaders, List<String> removeHeaders,
    boolean rewritesBody) {}
