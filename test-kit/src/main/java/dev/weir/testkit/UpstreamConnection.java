package dev.weir.testkit;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.NoRouteToHostException;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.SSLSocketFactory;

/**
 * One upstream HTTP/1.1 request on its own connection, written the way Envoy's HTTP/1 codec writes
 * it (source/common/http/http1/codec_impl.cc, RequestEncoderImpl::encodeHeaders): the request
 * headers exactly as the filters left them, {@code content-length} included and never recomputed,
 * then the body bytes as they are. A stale {@code content-length} therefore reaches the backend as
 * it would from Envoy. Reading the answer honours the attempt's {@link Timers}.
 */
final class UpstreamConnection {
  /**
   * Connection-level headers Envoy's HCM removes from requests before the router
   * (source/common/http/conn_manager_utility.cc, mutateRequestHeaders), and {@code expect}, which
   * Envoy answers itself unless proxy_100_continue is set.
   */
  private static final Set<String> CONNECTION_HEADERS = Set.of("connection", "keep-alive", "proxy-connection",
      "transfer-encoding", "upgrade", "te", "expect");

  /** The router's timers that can end an attempt, named as in router.cc. */
  enum Timer { PER_TRY, PER_TRY_IDLE, ROUTE }

  /** A timer fired while the attempt waited on the upstream. */
  static final class TimerFired extends IOException {
    final Timer timer;

    TimerFired(Timer timer) {
      super(timer + " timeout");
      this.timer = timer;
    }
  }

  /** The TCP (or TLS) connection could not be set up: Envoy's ConnectionFailure reset reason. */
  static final class ConnectFailed extends IOException {
    ConnectFailed(String why) {
      super(why);
    }
  }

  /**
   * The attempt's deadlines as {@link System#nanoTime()} values. The per-try and per-try-idle
   * timers are armed when the connection is ready (upstream_request.cc onPoolReady calls
   * setupPerTryTimeout). Envoy asks the pool for a connection before the upstream filters run
   * (acceptHeadersFromRouter: "Kick off creation of the upstream connection immediately"), while the
   * test-kit runs the upstream ext_proc first and connects afterwards, so the timers start at the
   * attempt's start plus the time the connection took, where Envoy would have had it ready. The
   * per-try timer stops once response headers are forwarded (onPerTryTimeout: "ignored upstream per
   * try timeout due to already started downstream response"); the idle timer restarts on every read
   * and write and keeps running while the body streams; the route timer covers the whole response
   * (router.cc onResponseTimeout, disarmed only when the upstream response completes).
   */
  static final class Timers {
    private final long attemptStart;
    private final long perTryNanos;
    private long perTryDeadline = Long.MAX_VALUE;
    private final long routeDeadline;
    private final long idleNanos;
    private long idleDeadline = Long.MAX_VALUE;
    private boolean armed;

    Timers(long attemptStart, long perTryNanos, long routeDeadline, long idleNanos) {
      this.attemptStart = attemptStart;
      this.perTryNanos = perTryNanos;
      this.routeDeadline = routeDeadline;
      this.idleNanos = idleNanos;
    }

    /** UpstreamRequest::setupPerTryTimeout, at the moment Envoy's pool would have been ready. */
    void poolReady(long connectNanos) {
      long ready = attemptStart + connectNanos;
      armed = true;
      perTryDeadline = perTryNanos > 0 ? ready + perTryNanos : Long.MAX_VALUE;
      idleDeadline = idleNanos > 0 ? ready + idleNanos : Long.MAX_VALUE;
    }

    void touch() {
      if (armed) {
        idleDeadline = idleNanos <= 0 ? Long.MAX_VALUE : System.nanoTime() + idleNanos;
      }
    }

    void responseStarted() {
      perTryDeadline = Long.MAX_VALUE;
    }

    long routeDeadline() {
      return routeDeadline;
    }

    /** Milliseconds until the nearest timer (at least 1), or 0 for "no timer". */
    int waitMillis() {
      long next = Math.min(perTryDeadline, Math.min(routeDeadline, idleDeadline));
      if (next == Long.MAX_VALUE) {
        return 0;
      }
      long left = next - System.nanoTime();
      return (int) Math.max(1, Math.min(Integer.MAX_VALUE, (left + 999_999) / 1_000_000));
    }

    /** The timer that has fired, or null. */
    Timer fired() {
      long now = System.nanoTime();
      if (now >= routeDeadline) {
        return Timer.ROUTE;
      }
      if (now >= perTryDeadline) {
        return Timer.PER_TRY;
      }
      if (now >= idleDeadline) {
        return Timer.PER_TRY_IDLE;
      }
      return null;
    }
  }

  /** Response headers (with {@code :status}) and the body, read lazily under the same timers. */
  record Response(int status, HeaderList headers, InputStream body) {}

  private UpstreamConnection() {}

  static Response exchange(UpstreamHost host, HeaderList headers, byte[] body, Duration connectTimeout,
      Timers timers) throws IOException {
    long connectStart = System.nanoTime();
    Socket socket = connect(host, connectTimeout, timers);
    timers.poolReady(System.nanoTime() - connectStart);
    try {
      OutputStream out = socket.getOutputStream();
      out.write(requestHead(headers, body, host).getBytes(StandardCharsets.ISO_8859_1));
      boolean chunked = headers.get("content-length") == null && body.length > 0;
      if (chunked) {
        out.write((Integer.toHexString(body.length) + "\r\n").getBytes(StandardCharsets.ISO_8859_1));
        out.write(body);
        out.write("\r\n0\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
      } else {
        out.write(body);
      }
      out.flush();
      timers.touch(); // data sent resets the idle timer
      TimedInput in = new TimedInput(new BufferedInputStream(socket.getInputStream()), socket, timers);
      String statusLine = in.readLine();
      if (statusLine == null) {
        throw new IOException("connection closed before response headers");
      }
      String[] parts = statusLine.split(" ", 3);
      if (parts.length < 2 || !parts[0].startsWith("HTTP/1.")) {
        throw new IOException("malformed status line: " + statusLine);
      }
      int status = Integer.parseInt(parts[1]);
      HeaderList response = new HeaderList();
      response.add(":status", Integer.toString(status));
      String line;
      while ((line = in.readLine()) != null && !line.isEmpty()) {
        int colon = line.indexOf(':');
        if (colon > 0) {
          response.add(line.substring(0, colon).trim().toLowerCase(Locale.ROOT), line.substring(colon + 1).trim());
        }
      }
      if (line == null) {
        throw new IOException("connection closed inside response headers");
      }
      boolean noBody = status == 204 || status == 304 || "HEAD".equals(headers.get(":method"));
      InputStream bodyStream;
      if (noBody) {
        socket.close();
        bodyStream = InputStream.nullInputStream();
      } else if ("chunked".equalsIgnoreCase(response.get("transfer-encoding"))) {
        bodyStream = new ChunkedBody(in);
      } else if (response.get("content-length") != null) {
        bodyStream = new FixedBody(in, Long.parseLong(response.get("content-length").trim()));
      } else {
        bodyStream = in;
      }
      response.remove("transfer-encoding"); // a codec detail, not a header Envoy forwards
      response.remove("connection");
      return new Response(status, response, bodyStream);
    } catch (IOException | RuntimeException e) {
      socket.close();
      throw e;
    }
  }

  private static Socket connect(UpstreamHost host, Duration connectTimeout, Timers timers) throws IOException {
    Socket socket = new Socket();
    int timerWait = timers.waitMillis();
    int connectMillis = (int) Math.min(Integer.MAX_VALUE, connectTimeout.toMillis());
    boolean timerFirst = timerWait > 0 && timerWait < connectMillis;
    try {
      socket.connect(new InetSocketAddress(host.address(), host.port()), timerFirst ? timerWait : connectMillis);
    } catch (SocketTimeoutException e) {
      socket.close();
      Timer fired = timers.fired();
      if (timerFirst && fired != null) {
        throw new TimerFired(fired);
      }
      throw new ConnectFailed("connect_timeout " + connectTimeout.toMillis() + " ms");
    } catch (ConnectException | NoRouteToHostException e) {
      socket.close();
      throw new ConnectFailed(e.getMessage());
    }
    if (!host.tls()) {
      return socket;
    }
    String sni = host.hostname().isEmpty() ? host.address() : host.hostname();
    SSLSocket tls = (SSLSocket) ((SSLSocketFactory) SSLSocketFactory.getDefault())
        .createSocket(socket, sni, host.port(), true);
    // Weir's clusters set auto_sni and auto_san_validation: SNI and the certificate check use the
    // endpoint's hostname.
    javax.net.ssl.SSLParameters params = tls.getSSLParameters();
    params.setEndpointIdentificationAlgorithm("HTTPS");
    tls.setSSLParameters(params);
    try {
      tls.startHandshake();
    } catch (IOException e) {
      tls.close();
      throw new ConnectFailed("TLS handshake: " + e.getMessage());
    }
    return tls;
  }

  private static String requestHead(HeaderList headers, byte[] body, UpstreamHost host) {
    StringBuilder head = new StringBuilder();
    head.append(headers.get(":method")).append(' ').append(headers.get(":path")).append(" HTTP/1.1\r\n");
    // The HTTP/1 codec writes :authority as Host.
    String authority = headers.get(":authority");
    head.append("host: ").append(authority == null ? host.key() : authority).append("\r\n");
    for (Map.Entry<String, String> e : headers.entries()) {
      String name = e.getKey();
      if (name.startsWith(":") || name.equals("host") || CONNECTION_HEADERS.contains(name)) {
        continue;
      }
      head.append(name).append(": ").append(e.getValue()).append("\r\n");
    }
    if (headers.get("content-length") == null) {
      if (body.length > 0) {
        head.append("transfer-encoding: chunked\r\n");
      } else if (!"GET".equals(headers.get(":method")) && !"HEAD".equals(headers.get(":method"))) {
        head.append("content-length: 0\r\n");
      }
    }
    return head.append("\r\n").toString();
  }

  /** The socket's input, read under the attempt's timers; closing it closes the connection. */
  static final class TimedInput extends InputStream {
    private final InputStream in;
    private final Socket socket;
    private final Timers timers;

    TimedInput(InputStream in, Socket socket, Timers timers) {
      this.in = in;
      this.socket = socket;
      this.timers = timers;
    }

    private void arm() throws IOException {
      Timer fired = timers.fired();
      if (fired != null) {
        throw new TimerFired(fired);
      }
      socket.setSoTimeout(timers.waitMillis());
    }

    @Override
    public int read() throws IOException {
      while (true) {
        arm();
        try {
          int b = in.read();
          timers.touch();
          return b;
        } catch (SocketTimeoutException e) {
          // loop: arm() names the timer that fired
        }
      }
    }

    @Override
    public int read(byte[] buf, int off, int len) throws IOException {
      while (true) {
        arm();
        try {
          int n = in.read(buf, off, len);
          timers.touch();
          return n;
        } catch (SocketTimeoutException e) {
          // loop: arm() names the timer that fired
        }
      }
    }

    String readLine() throws IOException {
      ByteArrayOutputStream line = new ByteArrayOutputStream();
      int b;
      while ((b = read()) >= 0) {
        if (b == '\n') {
          byte[] bytes = line.toByteArray();
          int n = bytes.length > 0 && bytes[bytes.length - 1] == '\r' ? bytes.length - 1 : bytes.length;
          return new String(bytes, 0, n, StandardCharsets.ISO_8859_1);
        }
        line.write(b);
      }
      return line.size() == 0 ? null : line.toString(StandardCharsets.ISO_8859_1);
    }

    @Override
    public void close() throws IOException {
      socket.close();
    }
  }

  private static final class FixedBody extends InputStream {
    private final TimedInput in;
    private long left;

    FixedBody(TimedInput in, long length) {
      this.in = in;
      this.left = length;
    }

    @Override
    public int read() throws IOException {
      byte[] one = new byte[1];
      return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] buf, int off, int len) throws IOException {
      if (left == 0) {
        return -1;
      }
      int n = in.read(buf, off, (int) Math.min(len, left));
      if (n < 0) {
        throw new IOException("upstream closed with " + left + " body bytes missing");
      }
      left -= n;
      return n;
    }

    @Override
    public void close() throws IOException {
      in.close();
    }
  }

  private static final class ChunkedBody extends InputStream {
    private final TimedInput in;
    private long chunkLeft;
    private boolean done;

    ChunkedBody(TimedInput in) {
      this.in = in;
    }

    @Override
    public int read() throws IOException {
      byte[] one = new byte[1];
      return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] buf, int off, int len) throws IOException {
      if (done) {
        return -1;
      }
      if (chunkLeft == 0) {
        String size = in.readLine();
        if (size == null) {
          throw new IOException("upstream closed inside a chunked body");
        }
        int semi = size.indexOf(';');
        chunkLeft = Long.parseLong((semi < 0 ? size : size.substring(0, semi)).trim(), 16);
        if (chunkLeft == 0) {
          String trailer;
          while ((trailer = in.readLine()) != null && !trailer.isEmpty()) {
            // trailers are not forwarded (trailer modes are SKIP in Weir's filters)
          }
          done = true;
          return -1;
        }
      }
      int n = in.read(buf, off, (int) Math.min(len, chunkLeft));
      if (n < 0) {
        throw new IOException("upstream closed inside a chunk");
      }
      chunkLeft -= n;
      if (chunkLeft == 0) {
        in.readLine(); // the CRLF after the chunk
      }
      return n;
    }

    @Override
    public void close() throws IOException {
      in.close();
    }
  }
}
