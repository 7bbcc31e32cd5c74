package dev.weir.testkit;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.Durations;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
import io.grpc.Channel;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Envoy's router filter for one request (source/common/router/router.cc Filter and
 * upstream_request.cc UpstreamRequest): host selection, the cluster's upstream ext_proc filter on
 * every attempt, the attempt over HTTP/1.1, and the retry policy.
 *
 * <p>Every attempt starts from the router's request headers as the previous attempt's upstream
 * filters left them (UpstreamRequest::acceptHeadersFromRouter hands the filter chain
 * {@code *parent_.downstreamHeaders()}) and from the router's original body (Filter::doRetry
 * re-sends {@code callbacks_->decodingBuffer()}): a body an upstream filter rewrote for one attempt
 * is not what the next attempt starts from, but a header it set is.
 */
final class Router {
  /** The router's answer: an upstream response or a local reply, with its body still to read. */
  record Answer(int status, HeaderList headers, InputStream body, UpstreamHost host, Runnable done) {}

  private static final Runnable NOTHING = () -> { };
  private final Map<String, UpstreamCluster> clusters;
  private final Channel channel;
  private final EnvoyStats stats;

  Router(Map<String, UpstreamCluster> clusters, Channel channel, EnvoyStats stats) {
    this.clusters = clusters;
    this.channel = channel;
    this.stats = stats;
  }

  /** A reply Envoy itself makes; it still passes through the encoder filters. */
  static Answer local(int status, String text, String details, List<String> trace, UpstreamHost host,
      String... extraHeaders) {
    trace.add("envoy: local reply " + status + " " + details);
    byte[] b = text.getBytes(StandardCharsets.UTF_8);
    HeaderList h = HeaderList.of(":status", Integer.toString(status), "content-type", "text/plain",
        "content-length", Integer.toString(b.length));
    for (int i = 0; i + 1 < extraHeaders.length; i += 2) {
      h.add(extraHeaders[i], extraHeaders[i + 1]);
    }
    return new Answer(status, h, new ByteArrayInputStream(b), host, NOTHING);
  }

  /**
   * Forwards the request; with {@code includeAttemptCount} (the virtual host's
   * include_attempt_count_in_response) the answer, upstream or local, carries
   * {@code x-envoy-attempt-count}: router.cc's modify_headers_ runs for both and sets it unless
   * attempt_count_ is 0 ("if (attempt_count_ == 0 || !includeAttemptCountInResponse()) return;
   * headers.setEnvoyAttemptCount(attempt_count_)").
   */
  Answer forward(Route route, HeaderList headers, byte[] body, List<String> trace, boolean includeAttemptCount) {
    int[] attempts = {0};
    Answer answer = forward(route, headers, body, trace, attempts);
    if (includeAttemptCount && attempts[0] > 0) {
      answer.headers().set("x-envoy-attempt-count", Integer.toString(attempts[0]));
    }
    return answer;
  }

  private Answer forward(Route route, HeaderList headers, byte[] body, List<String> trace, int[] attempts) {
    RouteAction action = route.getRoute();
    UpstreamCluster cluster = clusters.get(action.getCluster());
    if (cluster == null) {
      return local(503, "", "cluster_not_found", trace, null);
    }
    RetryState retry = RetryState.create(action.hasRetryPolicy() ? action.getRetryPolicy() : null, headers);
    var policy = action.getRetryPolicy();
    // route_components.proto RouteAction.timeout: "defaults to 15s"; 0 disables it.
    long routeTimeoutMillis = action.hasTimeout() ? Durations.toMillis(action.getTimeout()) : 15_000;
    long routeDeadline = routeTimeoutMillis == 0 ? Long.MAX_VALUE : System.nanoTime() + routeTimeoutMillis * 1_000_000;
    long perTryNanos = retry != null && policy.hasPerTryTimeout() ? Durations.toNanos(policy.getPerTryTimeout()) : 0;
    long idleNanos = retry != null && policy.hasPerTryIdleTimeout() ? Durations.toNanos(policy.getPerTryIdleTimeout()) : 0;
    // router.cc FilterUtility::setTimeoutHeaders: the upstream learns the time it has.
    long expected = perTryNanos > 0 ? perTryNanos / 1_000_000 : routeTimeoutMillis;
    if (expected > 0) {
      headers.set("x-envoy-expected-rq-timeout-ms", Long.toString(expected));
    }
    Long hashKey = hashKey(action, headers);
    ExternalProcessor upstreamFilter = upstreamFilter(cluster.config());
    Set<String> triedHosts = new HashSet<>();
    PreviousPriorities retryPriority = retry == null ? null : retry.retryPriority();
    boolean[] retrySlot = {false};
    Runnable releaseRetry = () -> {
      if (retrySlot[0]) {
        retrySlot[0] = false;
        cluster.endRetry();
      }
    };
    for (int attempt = 1; ; attempt++) {
      // router.h Filter: the predicates and the retry priority act only on retries
      // (shouldSelectAnotherHost, determinePriorityLoad: "if (!is_retry_)"), and
      // hostSelectionRetryCount() is 1 on a first attempt, the policy's attempts on a retry.
      boolean isRetry = attempt > 1;
      boolean previousHosts = isRetry && retry.previousHosts();
      int picks = (isRetry ? retry.hostSelectionMaxAttempts() : 1) + 1;
      UpstreamHost host = cluster.choose(new UpstreamCluster.Context(hashKey, previousHosts ? triedHosts : Set.of(),
          isRetry ? retryPriority : null, picks));
      if (host == null) {
        releaseRetry.run();
        return local(503, "no healthy upstream", "no_healthy_upstream", trace, null);
      }
      attempts[0] = attempt;
      // RetryStateImpl::onHostAttempted tells the host predicates and the retry priority.
      triedHosts.add(host.key());
      if (retryPriority != null) {
        retryPriority.onHostAttempted(host.priority());
      }
      trace.add("envoy: attempt " + attempt + " -> " + host.key() + " (priority " + host.priority() + ")");
      long attemptStart = System.nanoTime();
      byte[] attemptBody = body;
      // One upstream filter chain per attempt (UpstreamRequest owns it), so one ext_proc stream per
      // attempt: it sees this attempt's request and, before the router's retry decision, this
      // attempt's response headers (upstream_request.cc UpstreamRequest::decodeHeaders runs the
      // upstream filters' encodeHeaders, then UpstreamRequestFilterManagerCallbacks::encodeHeaders
      // calls Filter::onUpstreamHeaders). It ends with the attempt.
      ExtProcFilter attemptFilter = null;
      try {
        if (upstreamFilter != null) {
          attemptFilter = new ExtProcFilter("upstream", upstreamFilter, channel,
              Attributes.resolve(upstreamFilter.getRequestAttributesList(), headers, host, cluster.name()),
              Map.of(), trace::add, stats, true);
          Object outcome = runUpstreamFilter(attemptFilter, headers, attemptBody, trace, host);
          if (outcome instanceof Answer answered) {
            releaseRetry.run();
            return answered;
          }
          attemptBody = (byte[]) outcome;
        }
        if (action.getAutoHostRewrite().getValue() && !host.hostname().isEmpty()) {
          headers.set(":authority", host.hostname()); // Http::Utility::updateAuthority, on the router's headers
        }
        if (!cluster.tryStartRequest(host)) {
          // An Overflow reset is never retried (RetryStateImpl::wouldRetryFromReset); router.cc
          // onUpstreamReset marks the local reply x-envoy-overloaded.
          releaseRetry.run();
          return local(503, "upstream connect error or disconnect/reset before headers. reset reason: overflow",
              "upstream_reset_before_response_started{overflow}", trace, host, "x-envoy-overloaded", "true");
        }
        stats.upstreamRequests.incrementAndGet();
        UpstreamConnection.Timers timers = new UpstreamConnection.Timers(attemptStart, perTryNanos, routeDeadline,
            idleNanos);
        Answer failed;
        RetryState.Reset reset;
        try {
          UpstreamConnection.Response r = UpstreamConnection.exchange(host, headers, attemptBody,
              cluster.connectTimeout(), timers);
          trace.add("upstream: " + r.status() + " from " + host.key());
          if (attemptFilter != null && attemptFilter.sendsResponseHeaders()) {
            boolean noBody = "0".equals(r.headers().get("content-length")) || r.status() == 204 || r.status() == 304;
            Answer answered = upstreamLocal(attemptFilter.responseHeaders(r.headers(), noBody), trace, host);
            if (answered != null) {
              closeQuietly(r.body());
              cluster.endRequest(host);
              releaseRetry.run();
              return answered;
            }
          }
          cluster.report(host, r.status());
          releaseRetry.run();
          String reason = retry == null ? null : retry.wouldRetryFromHeaders(r.status(), r.headers());
          if (reason != null) {
            retry.readResetHeaders(r.headers());
            Decision d = scheduleRetry(retry, cluster, reason, routeDeadline, trace);
            if (d == Decision.RETRY) {
              retrySlot[0] = true;
              closeQuietly(r.body());
              cluster.endRequest(host);
              continue;
            }
            if (d == Decision.ROUTE_TIMEOUT) {
              closeQuietly(r.body());
              cluster.endRequest(host);
              return local(504, "upstream request timeout", "upstream_response_timeout", trace, host);
            }
          }
          timers.responseStarted();
          return new Answer(r.status(), r.headers(), r.body(), host, () -> cluster.endRequest(host));
        } catch (UpstreamConnection.ConnectFailed e) {
          cluster.endRequest(host);
          trace.add("upstream: connect failure to " + host.key() + ": " + e.getMessage());
          reset = RetryState.Reset.CONNECTION_FAILURE;
          failed = local(503, "upstream connect error or disconnect/reset before headers. reset reason: connection failure",
              "upstream_reset_before_response_started{connection_failure}", trace, host);
        } catch (UpstreamConnection.TimerFired e) {
          cluster.endRequest(host);
          trace.add("upstream: " + e.getMessage() + " waiting for " + host.key());
          cluster.report(host, 504); // LocalOriginTimeout counts as 504 without split errors
          if (e.timer == UpstreamConnection.Timer.ROUTE) {
            releaseRetry.run(); // router.cc onResponseTimeout: no retry once the route timeout fires
            return local(504, "upstream request timeout", "upstream_response_timeout", trace, host);
          }
          stats.perTryTimeouts.incrementAndGet();
          reset = RetryState.Reset.LOCAL_RESET;
          failed = local(504, "upstream request timeout", e.timer == UpstreamConnection.Timer.PER_TRY
              ? "upstream_per_try_timeout" : "upstream_per_try_idle_timeout", trace, host);
        } catch (IOException e) {
          cluster.endRequest(host);
          trace.add("upstream: reset by " + host.key() + ": " + e.getMessage());
          reset = RetryState.Reset.REMOTE_RESET;
          failed = local(503, "upstream connect error or disconnect/reset before headers. reset reason: connection termination",
              "upstream_reset_before_response_started{connection_termination}", trace, host);
        }
        if (reset != RetryState.Reset.LOCAL_RESET) {
          cluster.report(host, 503);
        }
        releaseRetry.run();
        // A connection that never opened carried no byte of the request (reset-before-request).
        String reason = retry == null ? null : retry.wouldRetryFromReset(reset, reset != RetryState.Reset.CONNECTION_FAILURE);
        if (reason == null) {
          return failed;
        }
        Decision d = scheduleRetry(retry, cluster, reason, routeDeadline, trace);
        if (d == Decision.RETRY) {
          retrySlot[0] = true;
          continue;
        }
        return d == Decision.ROUTE_TIMEOUT
            ? local(504, "upstream request timeout", "upstream_response_timeout", trace, host) : failed;
      } finally {
        if (attemptFilter != null) {
          attemptFilter.close(false);
        }
      }
    }
  }

  private enum Decision { RETRY, NO_RETRY, ROUTE_TIMEOUT }

  /** RetryStateImpl::shouldRetry then the back-off timer; the route timeout may fire during it. */
  private Decision scheduleRetry(RetryState retry, UpstreamCluster cluster, String reason, long routeDeadline,
      List<String> trace) {
    if (!retry.consumeRetry()) {
      trace.add("envoy: no retry (" + reason + "): retry limit reached");
      return Decision.NO_RETRY;
    }
    if (!cluster.tryStartRetry()) {
      trace.add("envoy: no retry (" + reason + "): max_retries circuit breaker open");
      return Decision.NO_RETRY;
    }
    stats.retries.incrementAndGet();
    Duration backOff = retry.nextBackOff();
    trace.add("envoy: retry (" + reason + ") after " + backOff.toMillis() + " ms");
    long left = routeDeadline == Long.MAX_VALUE ? Long.MAX_VALUE : (routeDeadline - System.nanoTime()) / 1_000_000;
    if (backOff.toMillis() >= left) {
      sleep(Math.max(0, left));
      cluster.endRetry();
      return Decision.ROUTE_TIMEOUT;
    }
    sleep(backOff.toMillis());
    return Decision.RETRY;
  }

  /** Runs the upstream filter; returns the attempt's body, or an {@link Answer} that ends the request. */
  private Object runUpstreamFilter(ExtProcFilter filter, HeaderList headers, byte[] body, List<String> trace,
      UpstreamHost host) {
    byte[] attemptBody = body;
    if (filter.sendsRequestHeaders()) {
      ExtProcFilter.Outcome o = filter.requestHeaders(headers, body.length == 0);
      Answer answered = upstreamLocal(o, trace, host);
      if (answered != null) {
        return answered;
      }
      if (((ExtProcFilter.Continue) o).body() != null) {
        attemptBody = ((ExtProcFilter.Continue) o).body();
      }
    }
    if (attemptBody.length > 0 && filter.requestBodyMode() != BodySendMode.NONE) {
      ExtProcFilter.Outcome o = filter.requestBody(attemptBody, true, headers);
      Answer answered = upstreamLocal(o, trace, host);
      if (answered != null) {
        return answered;
      }
      if (((ExtProcFilter.Continue) o).body() != null) {
        attemptBody = ((ExtProcFilter.Continue) o).body();
      }
    }
    return attemptBody;
  }

  /**
   * A local reply from an upstream filter goes to the client through the downstream filter
   * manager and is not retried (upstream_request.cc UpstreamFilterManager::sendLocalReply).
   */
  private static Answer upstreamLocal(ExtProcFilter.Outcome o, List<String> trace, UpstreamHost host) {
    if (o instanceof ExtProcFilter.LocalReply r) {
      HeaderList h = new HeaderList(r.headers());
      h.set(":status", Integer.toString(r.status()));
      h.set("content-length", Integer.toString(r.body().length));
      return new Answer(r.status(), h, new ByteArrayInputStream(r.body()), null, NOTHING);
    }
    if (o instanceof ExtProcFilter.Failure f) {
      return local(f.status(), f.status() == 504 ? "upstream request timeout" : "Internal Server Error", f.details(),
          trace, null);
    }
    return null;
  }

  /**
   * The route's hash key, as source/common/http/hash_policy.cc HashPolicyImpl::generateHash makes
   * it: each policy's hash (a header: XXH64 of its first value) is folded in with
   * {@code rotl(hash, 1) ^ new}, and a terminal policy that produced a hash stops the walk. Only
   * header policies are evaluated; the others produce no hash here.
   */
  static Long hashKey(RouteAction action, HeaderList headers) {
    Long hash = null;
    for (RouteAction.HashPolicy policy : action.getHashPolicyList()) {
      if (policy.hasHeader()) {
        String value = headers.get(policy.getHeader().getHeaderName());
        if (value != null) {
          long next = XxHash64.hash(value);
          hash = hash == null ? next : Long.rotateLeft(hash, 1) ^ next;
        }
      }
      if (policy.getTerminal() && hash != null) {
        break;
      }
    }
    return hash;
  }

  static ExternalProcessor upstreamFilter(Cluster cluster) {
    Any any = cluster.getTypedExtensionProtocolOptionsMap().get("envoy.extensions.upstreams.http.v3.HttpProtocolOptions");
    if (any == null) {
      return null;
    }
    try {
      HttpProtocolOptions options = any.unpack(HttpProtocolOptions.class);
      for (var f : options.getHttpFiltersList()) {
        if (f.getTypedConfig().is(ExternalProcessor.class)) {
          return f.getTypedConfig().unpack(ExternalProcessor.class);
        }
      }
      return null;
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalArgumentException("cluster " + cluster.getName() + " has unreadable protocol options", e);
    }
  }

  private static void closeQuietly(InputStream in) {
    try {
      in.close();
    } catch (IOException ignored) {
      // the attempt is being abandoned
    }
  }

  private static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
