package dev.weir.extproc.telemetry;

import com.sun.net.httpserver.HttpServer;
import io.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest;
import io.opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse;
import io.opentelemetry.proto.logs.v1.LogRecord;
import io.opentelemetry.proto.trace.v1.Span;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Predicate;
import java.util.zip.GZIPInputStream;

/**
 * An in-process OTLP/HTTP receiver (the collector's {@code /v1/traces} and {@code /v1/logs}, binary
 * protobuf, per the OTLP specification's "OTLP/HTTP" section) that keeps what it is sent, decoded
 * with opentelemetry-proto's own message types. {@link #failing} makes it answer 503 to every export.
 */
public final class OtlpReceiver implements AutoCloseable {
  private final HttpServer server;
  private final List<Span> spans = new CopyOnWriteArrayList<>();
  private final List<LogRecord> logs = new CopyOnWriteArrayList<>();
  private final List<String> serviceNames = new CopyOnWriteArrayList<>();
  private volatile boolean failing;

  public OtlpReceiver() throws IOException {
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 16);
    server.createContext("/v1/traces", ex -> {
      byte[] body = read(ex.getRequestBody(), ex.getRequestHeaders().getFirst("Content-Encoding"));
      if (failing) {
        ex.sendResponseHeaders(503, -1);
        ex.close();
        return;
      }
      ExportTraceServiceRequest req = ExportTraceServiceRequest.parseFrom(body);
      req.getResourceSpansList().forEach(rs -> {
        rs.getResource().getAttributesList().stream().filter(a -> a.getKey().equals("service.name"))
            .forEach(a -> serviceNames.add(a.getValue().getStringValue()));
        rs.getScopeSpansList().forEach(ss -> spans.addAll(ss.getSpansList()));
      });
      answer(ex, ExportTraceServiceResponse.getDefaultInstance().toByteArray());
    });
    server.createContext("/v1/logs", ex -> {
      byte[] body = read(ex.getRequestBody(), ex.getRequestHeaders().getFirst("Content-Encoding"));
      if (failing) {
        ex.sendResponseHeaders(503, -1);
        ex.close();
        return;
      }
      ExportLogsServiceRequest req = ExportLogsServiceRequest.parseFrom(body);
      req.getResourceLogsList().forEach(rl -> rl.getScopeLogsList().forEach(sl -> logs.addAll(sl.getLogRecordsList())));
      answer(ex, ExportLogsServiceResponse.getDefaultInstance().toByteArray());
    });
    server.start();
  }

  private static byte[] read(InputStream in, String encoding) throws IOException {
    try (InputStream body = "gzip".equalsIgnoreCase(encoding) ? new GZIPInputStream(in) : in) {
      return body.readAllBytes();
    }
  }

  private static void answer(com.sun.net.httpserver.HttpExchange ex, byte[] bytes) throws IOException {
    ex.getResponseHeaders().set("Content-Type", "application/x-protobuf");
    ex.sendResponseHeaders(200, bytes.length);
    ex.getResponseBody().write(bytes);
    ex.close();
  }

  public String url() {
    return "http://127.0.0.1:" + server.getAddress().getPort();
  }

  public void failing(boolean fail) {
    failing = fail;
  }

  public List<Span> spans() {
    return new ArrayList<>(spans);
  }

  public List<LogRecord> logs() {
    return new ArrayList<>(logs);
  }

  public List<String> serviceNames() {
    return new ArrayList<>(serviceNames);
  }

  /** The received spans once one matches (waiting up to 10 s). */
  public List<Span> spansOnce(Predicate<List<Span>> done) throws InterruptedException {
    for (int i = 0; i < 1000 && !done.test(spans()); i++) {
      Thread.sleep(10);
    }
    return spans();
  }

  /** The received log records once one matches (waiting up to 10 s). */
  public List<LogRecord> logsOnce(Predicate<List<LogRecord>> done) throws InterruptedException {
    for (int i = 0; i < 1000 && !done.test(logs()); i++) {
      Thread.sleep(10);
    }
    return logs();
  }

  @Override
  public void close() {
    server.stop(0);
  }
}
