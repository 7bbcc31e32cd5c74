package dev.weir.extproc.auth;

import java.util.Set;

/** An authenticated consumer and the models it may use. */
public record Caller(String name, Set<String> models, boolean allModels) {
  public boolean mayUse(String model) {
    return allModels || models.contains(model);
  }
}
