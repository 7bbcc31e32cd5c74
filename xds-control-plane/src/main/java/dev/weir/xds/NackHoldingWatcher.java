package dev.weir.xds;

import io.envoyproxy.controlplane.cache.ConfigWatcher;
import io.envoyproxy.controlplane.cache.DeltaResponse;
import io.envoyproxy.controlplane.cache.DeltaWatch;
import io.envoyproxy.controlplane.cache.DeltaXdsRequest;
import io.envoyproxy.controlplane.cache.Response;
import io.envoyproxy.controlplane.cache.Watch;
import io.envoyproxy.controlplane.cache.XdsRequest;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryResponse;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;

/**
 * Stops the NACK loop. A NACK carries the version Envoy last accepted, so the snapshot cache sees
 * an out-of-date client and resends the very version Envoy just rejected, which Envoy rejects
 * again, as fast as the network allows. This wrapper remembers what each stream was last sent. When
 * Envoy NACKs it, the watch is created as if Envoy held that version, so the next answer is the
 * next version. Envoy meanwhile keeps running its last accepted resources.
 *
 * <p>java-control-plane runs the request callbacks and then creates the watch on the same thread
 * ({@code DiscoveryRequestStreamObserver.onNext}), which is what lets a thread-local carry the
 * decision from one to the other.
 */
final class NackHoldingWatcher implements ConfigWatcher {
  private final ConfigWatcher delegate;
  private final Map<String, String> lastSent = new ConcurrentHashMap<>();
  private final ThreadLocal<String> rejectedVersion = new ThreadLocal<>();

  NackHoldingWatcher(ConfigWatcher delegate) {
    this.delegate = delegate;
  }

  /** Called from the server callbacks for every response sent. */
  void sent(long streamId, DiscoveryResponse response) {
    lastSent.put(streamId + "|" + response.getTypeUrl(), response.getVersionInfo());
  }

  /** Called from the server callbacks before the request's watch is created. */
  void received(long streamId, DiscoveryRequest request) {
    rejectedVersion.remove();
    if (request.hasErrorDetail()) {
      String rejected = lastSent.get(streamId + "|" + request.getTypeUrl());
      if (rejected != null) {
        rejectedVersion.set(rejected);
      }
    }
  }

  void closed(long streamId) {
    lastSent.keySet().removeIf(k -> k.startsWith(streamId + "|"));
  }

  @Override
  public Watch createWatch(boolean ads, XdsRequest request, Set<String> knownResourceNames,
      Consumer<Response> responseConsumer, boolean hasClusterChanged, boolean allowDefaultEmptyEdsUpdate) {
    String rejected = rejectedVersion.get();
    rejectedVersion.remove();
    XdsRequest effective = rejected == null ? request
        : XdsRequest.create(request.v3Request().toBuilder().setVersionInfo(rejected).build());
    return delegate.createWatch(ads, effective, knownResourceNames, responseConsumer, hasClusterChanged,
        allowDefaultEmptyEdsUpdate);
  }

  @Override
  public DeltaWatch createDeltaWatch(DeltaXdsRequest request, String requesterVersion,
      Map<String, String> resourceVersions, Set<String> pendingResources, boolean isWildcard,
      Consumer<DeltaResponse> responseConsumer, boolean hasClusterChanged) {
    return delegate.createDeltaWatch(request, requesterVersion, resourceVersions, pendingResources, isWildcard,
        responseConsumer, hasClusterChanged);
  }
}
