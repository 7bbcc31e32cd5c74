package dev.weir.testkit;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** The answer the client received, collected by {@link TestEnvoy#send(ExchangeRequest)}. */
public final class ExchangeResponse implements ResponseSink {
  private int status;
  private HeaderList headers = new HeaderList();
  private final ByteArrayOutputStream body = new ByteArrayOutputStream();
  private final List<byte[]> chunks = new ArrayList<>();
  private String resetReason;
  private List<String> trace = List.of();

  @Override
  public void start(int status, HeaderList headers) {
    this.status = status;
    this.headers = headers;
  }

  @Override
  public void data(byte[] chunk) {
    chunks.add(chunk);
    body.writeBytes(chunk);
  }

  @Override
  public void end() {}

  @Override
  public void reset(String why) {
    resetReason = why;
  }

  void trace(List<String> t) {
    trace = List.copyOf(t);
  }

  public int status() {
    return status;
  }

  public HeaderList headers() {
    return headers;
  }

  public String header(String name) {
    return headers.get(name);
  }

  public byte[] body() {
    return body.toByteArray();
  }

  public String bodyText() {
    return body.toString(StandardCharsets.UTF_8);
  }

  public List<byte[]> chunks() {
    return chunks;
  }

  /** Non-null when the stream was reset after the response had started. */
  public String resetReason() {
    return resetReason;
  }

  /** The ext_proc messages and emulator decisions of this exchange, in order. */
  public List<String> trace() {
    return trace;
  }

  @Override
  public String toString() {
    return status + " " + headers + " " + bodyText();
  }
}
