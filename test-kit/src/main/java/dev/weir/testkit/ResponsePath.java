package dev.weir.testkit;

import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

/**
 * The encoder side of one exchange: the router's answer through the router-level ext_proc filter
 * to the client. When the upstream fails or a timer fires mid-body, Envoy's
 * FilterManager::sendLocalReply replaces the answer if the client has not received headers yet and
 * resets the stream otherwise; this does the same.
 */
final class ResponsePath {
  private final ResponseSink sink;
  private final List<String> trace;
  private final int bufferLimitBytes;
  private boolean started;

  ResponsePath(ResponseSink sink, List<String> trace, int bufferLimitBytes) {
    this.sink = sink;
    this.trace = trace;
    this.bufferLimitBytes = bufferLimitBytes;
  }

  private void start(int status, HeaderList headers) {
    started = true;
    sink.start(status, headers);
  }

  /** Answers the client when the filter ended the exchange; false when it continues. */
  boolean localAnswer(ExtProcFilter.Outcome o) {
    if (o instanceof ExtProcFilter.LocalReply r) {
      r.headers().set("content-length", Integer.toString(r.body().length));
      start(r.status(), r.headers());
      sink.data(r.body());
      sink.end();
      return true;
    }
    if (o instanceof ExtProcFilter.Failure f) {
      sendLocal(f.status(), f.status() == 504 ? "upstream request timeout" : "Internal Server Error", f.details());
      return true;
    }
    return false;
  }

  void sendLocal(int status, String text, String details) {
    trace.add("envoy: local reply " + status + " " + details);
    byte[] b = text.getBytes(StandardCharsets.UTF_8);
    start(status, HeaderList.of("content-type", "text/plain", "content-length", Integer.toString(b.length)));
    sink.data(b);
    sink.end();
  }

  /** Runs the answer through the filter to the client; false when the stream was reset. */
  boolean respond(Router.Answer up, ExtProcFilter filter) {
    HeaderList headers = up.headers();
    try (InputStream in = up.body()) {
      if (filter == null || !filter.sendsResponseHeaders() && filter.responseBodyMode() == BodySendMode.NONE) {
        copy(in, headers);
        return true;
      }
      boolean noBody = "0".equals(headers.get("content-length")) || up.status() == 204 || up.status() == 304;
      byte[] replaced = null;
      if (filter.sendsResponseHeaders()) {
        ExtProcFilter.Outcome o = filter.responseHeaders(headers, noBody);
        if (localAnswer(o)) {
          return true;
        }
        replaced = ((ExtProcFilter.Continue) o).body();
      }
      if (replaced != null) {
        // CONTINUE_AND_REPLACE with a body mutation: that body replaces the upstream's
        // (processor_state.cc handleHeadersResponse).
        in.transferTo(java.io.OutputStream.nullOutputStream());
        start(status(headers), strip(headers));
        sink.data(replaced);
        sink.end();
        return true;
      }
      BodySendMode mode = filter.responseBodyMode();
      if (mode == BodySendMode.NONE || noBody) {
        copy(in, headers);
        return true;
      }
      if (mode == BodySendMode.BUFFERED || mode == BodySendMode.BUFFERED_PARTIAL) {
        byte[] all = readLimited(in, bufferLimitBytes + 1);
        if (all.length > bufferLimitBytes && mode == BodySendMode.BUFFERED) {
          sendLocal(500, "Internal Server Error", "response_payload_too_large");
          return true;
        }
        ExtProcFilter.Outcome o = filter.responseBody(all, true, headers);
        if (localAnswer(o)) {
          return true;
        }
        byte[] out = ((ExtProcFilter.Continue) o).body() == null ? all : ((ExtProcFilter.Continue) o).body();
        start(status(headers), strip(headers));
        sink.data(out);
        sink.end();
        return true;
      }
      // STREAMED: headers go to the client now, each chunk after the processor answers it.
      headers.remove("content-length");
      start(status(headers), strip(headers));
      byte[] buf = new byte[8192];
      int n;
      while ((n = in.read(buf)) >= 0) {
        if (n == 0) {
          continue;
        }
        ExtProcFilter.Outcome o = filter.responseBody(Arrays.copyOf(buf, n), false, headers);
        if (!(o instanceof ExtProcFilter.Continue c)) {
          sink.reset("ext_proc failed mid-stream: " + o);
          return false;
        }
        byte[] chunk = c.body() == null ? Arrays.copyOf(buf, n) : c.body();
        if (chunk.length > 0) {
          sink.data(chunk);
        }
      }
      ExtProcFilter.Outcome o = filter.responseBody(new byte[0], true, headers);
      if (o instanceof ExtProcFilter.Continue c && c.body() != null && c.body().length > 0) {
        sink.data(c.body());
      } else if (!(o instanceof ExtProcFilter.Continue)) {
        sink.reset("ext_proc failed at end of stream: " + o);
        return false;
      }
      sink.end();
      return true;
    } catch (IOException e) {
      trace.add("upstream: response broke: " + e.getMessage());
      if (!started) {
        if (e instanceof UpstreamConnection.TimerFired t) {
          sendLocal(504, "upstream request timeout", t.timer == UpstreamConnection.Timer.ROUTE
              ? "upstream_response_timeout" : "upstream_per_try_idle_timeout");
        } else {
          sendLocal(503, "upstream connect error or disconnect/reset before headers. reset reason: connection termination",
              "upstream_reset_after_response_started{connection_termination}");
        }
        return true;
      }
      sink.reset("upstream reset: " + e.getMessage());
      return false;
    } finally {
      up.done().run();
    }
  }

  private void copy(InputStream in, HeaderList headers) throws IOException {
    start(status(headers), strip(headers));
    byte[] buf = new byte[8192];
    int n;
    while ((n = in.read(buf)) >= 0) {
      if (n > 0) {
        sink.data(Arrays.copyOf(buf, n));
      }
    }
    sink.end();
  }

  private static int status(HeaderList h) {
    return Integer.parseInt(h.get(":status"));
  }

  private static HeaderList strip(HeaderList h) {
    HeaderList out = new HeaderList();
    h.entries().forEach(e -> {
      if (!e.getKey().startsWith(":")) {
        out.add(e.getKey(), e.getValue());
      }
    });
    return out;
  }

  private static byte[] readLimited(InputStream in, int limit) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] buf = new byte[8192];
    int n;
    while ((n = in.read(buf)) >= 0) {
      out.write(buf, 0, n);
      if (out.size() >= limit) {
        break;
      }
    }
    return out.toByteArray();
  }
}
