package dev.weir.config;

import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/** Both services' command lines: {@code --name value} options and {@code --flag} switches. */
public final class CommandLine {
  /** A command line the service cannot run with; the message says why, for the usage text. */
  public static final class UsageException extends Exception {
    private static final long serialVersionUID = 1L;

    public UsageException(String message) {
      super(message);
    }
  }

  private final Map<String, String> values = new HashMap<>();
  private final Set<String> switches = new HashSet<>();

  private CommandLine() {}

  /**
   * @param valued options that take a value
   * @param flags options that stand alone
   */
  public static CommandLine parse(String[] args, Set<String> valued, Set<String> flags) throws UsageException {
    CommandLine cli = new CommandLine();
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      if (flags.contains(a)) {
        cli.switches.add(a);
      } else if (valued.contains(a)) {
        if (i + 1 >= args.length) {
          throw new UsageException("option " + a + " needs a " + (a.endsWith("port") ? "port number" : "value"));
        }
        cli.values.put(a, args[++i]);
      } else {
        throw new UsageException("unknown option: " + a);
      }
    }
    return cli;
  }

  public boolean has(String flag) {
    return switches.contains(flag);
  }

  /** The option's value, or null. */
  public String get(String option) {
    return values.get(option);
  }

  public String get(String option, String fallback) {
    return values.getOrDefault(option, fallback);
  }

  /** A port option's value, or null when not given. */
  public Integer port(String option) throws UsageException {
    String v = values.get(option);
    if (v == null) {
      return null;
    }
    try {
      int port = Integer.parseInt(v);
      if (port < 0 || port > 65535) {
        throw new NumberFormatException();
      }
      return port;
    } catch (NumberFormatException e) {
      throw new UsageException("option " + option + " needs a port number, found \"" + v + "\"");
    }
  }

  /** The value of a required option. */
  public String required(String option, String what) throws UsageException {
    String v = values.get(option);
    if (v == null) {
      throw new UsageException(option + " " + what + " is required");
    }
    return v;
  }
}
