package dev.weir.extproc.telemetry;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.JsonFormat;
import dev.weir.events.v1.UsageEvent;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.List;

/**
 * Usage events as JSON lines (one event's protobuf JSON form per line), to standard output or to
 * a file rotated by size: {@code path} is renamed {@code path.1}, {@code path.1} {@code path.2},
 * and so on; the oldest beyond {@code maxFiles} is deleted.
 */
public final class JsonLinesSink implements EventSink {
  /** One line per event: no pretty-printing; fields at their default values are left out. */
  static final JsonFormat.Printer PRINTER = JsonFormat.printer().omittingInsignificantWhitespace();

  private final String name;
  private final PrintStream stdout;
  private final Path path;
  private final long maxBytes;
  private final int maxFiles;
  private OutputStream file;
  private long size;

  private JsonLinesSink(String name, PrintStream stdout, Path path, long maxBytes, int maxFiles) {
    this.name = name;
    this.stdout = stdout;
    this.path = path;
    this.maxBytes = maxBytes;
    this.maxFiles = maxFiles;
  }

  public static JsonLinesSink stdout(PrintStream out) {
    return new JsonLinesSink("stdout", out, null, 0, 0);
  }

  public static JsonLinesSink file(Path path, long maxBytes, int maxFiles) {
    return new JsonLinesSink("file", null, path, maxBytes, maxFiles);
  }

  /** An event's JSON line, without the newline. */
  public static String line(UsageEvent event) {
    try {
      return PRINTER.print(event);
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalStateException("a UsageEvent always prints", e);
    }
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public void write(List<UsageEvent> events) throws IOException {
    StringBuilder out = new StringBuilder();
    for (UsageEvent e : events) {
      out.append(line(e)).append('\n');
    }
    byte[] bytes = out.toString().getBytes(StandardCharsets.UTF_8);
    if (stdout != null) {
      stdout.write(bytes);
      stdout.flush();
      if (stdout.checkError()) {
        throw new IOException("standard output is closed or failing");
      }
      return;
    }
    if (file == null) {
      Files.createDirectories(path.toAbsolutePath().getParent());
      file = Files.newOutputStream(path, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
      size = Files.size(path);
    }
    if (size > 0 && size + bytes.length > maxBytes) {
      rotate();
    }
    file.write(bytes);
    file.flush();
    size += bytes.length;
  }

  private void rotate() throws IOException {
    file.close();
    file = null;
    Files.deleteIfExists(rotated(maxFiles));
    for (int i = maxFiles - 1; i >= 1; i--) {
      if (Files.exists(rotated(i))) {
        Files.move(rotated(i), rotated(i + 1), StandardCopyOption.REPLACE_EXISTING);
      }
    }
    Files.move(path, rotated(1), StandardCopyOption.REPLACE_EXISTING);
    file = Files.newOutputStream(path, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING);
    size = 0;
  }

  private Path rotated(int n) {
    return path.resolveSibling(path.getFileName() + "." + n);
  }

  @Override
  public void close() {
    if (file != null) {
      try {
        file.close();
      } catch (IOException e) {
        // closing anyway
      }
      file = null;
    }
  }
}
