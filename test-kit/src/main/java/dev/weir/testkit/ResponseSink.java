package dev.weir.testkit;

/** Where the emulator writes the answer to the client, as it would go on the wire. */
public interface ResponseSink {
  void start(int status, HeaderList headers);

  void data(byte[] chunk);

  void end();

  /** The stream was reset after the response started (the client sees a truncated answer). */
  void reset(String why);
}
