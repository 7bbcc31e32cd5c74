package dev.weir.extproc.routing;

import java.util.List;
import java.util.Map;

/**
 * How one attempt must be rewritten for the backend Envoy chose: the path, headers to set and
 * remove, and the model name to put in the body (null: leave the body alone).
 */
public record UpstreamPlan(String path, Map<String, String> setHeaders, List<String> removeHeaders,
    String bodyModel) {}
