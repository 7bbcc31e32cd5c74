package dev.weir.testkit;

/**
 * Runs a {@link ScriptedUpstream} on a fixed port as a stand-in LLM backend for the quick start:
 * answers OpenAI and Azure OpenAI paths with canned completions, streams and embeddings.
 */
public final class DemoUpstream {
  private DemoUpstream() {}

  public static void main(String[] args) throws Exception {
    int port = args.length > 0 ? Integer.parseInt(args[0]) : 18080;
    ScriptedUpstream upstream = new ScriptedUpstream("demo-upstream", port);
    System.out.println("demo-upstream: scripted OpenAI-compatible backend on " + upstream.url());
    Runtime.getRuntime().addShutdownHook(new Thread(upstream::close));
    Thread.currentThread().join();
  }
}
