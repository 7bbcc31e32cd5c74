package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.weir.config.ApiKeys;
import io.envoyproxy.envoy.config.core.v3.HeaderMap;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.service.ext_proc.v3.ExternalProcessorGrpc;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.stub.StreamObserver;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ExtProcServerTest {
  private static String run(int expectedCode, String... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int code = ExtProcServer.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
    String text = out.toString(StandardCharsets.UTF_8) + err.toString(StandardCharsets.UTF_8);
    assertEquals(expectedCode, code, text);
    return text;
  }

  @Test
  void helpDescribesEveryOption() {
    String help = run(0, "--help");
    for (String option : new String[] {"--config", "--grpc-port", "--admin-port", "--hash-key", "--check"}) {
      assertTrue(help.contains(option), option);
    }
  }

  @Test
  void hashKeyPrintsTheConfigForm() {
    assertEquals(ApiKeys.hash("sk-x") + "\n", run(0, "--hash-key", "sk-x"));
    String[] generated = run(0, "--new-key").split("\n");
    String key = generated[0].replaceFirst("^key: +", "");
    assertTrue(key.startsWith("sk-weir-") && key.length() > 40, generated[0]);
    assertEquals("hash: " + ApiKeys.hash(key), generated[1]);
    assertTrue(!run(0, "--new-key").contains(key), "a new key every time");
  }

  @Test
  void brokenConfigIsRefusedAtStartWithThePath(@TempDir Path dir) throws Exception {
    Path f = dir.resolve("bad.yaml");
    Files.writeString(f, "backends:\n  - name: x\n    provider: openai\n    url: https://a\n    credentail: {}\n");
    String out = run(1, "--config", f.toString());
    assertTrue(out.contains("backends[0].credentail (line 5): unknown key"), out);
  }

  @Test
  void unknownOptionAndMissingConfigAreUsageErrors() {
    assertTrue(run(2, "--nope").contains("unknown option: --nope"));
    assertTrue(run(2).contains("--config FILE is required"));
    assertTrue(run(2, "--config", "x.yaml", "--grpc-port", "abc").contains("needs a port number"));
  }

  @Test
  void checkValidatesTheShippedExampleWhenItsSecretsAreSet() {
    // The example names env vars that are unset here: --check must say which.
    String out = run(1, "--check", "--config", "../examples/gateway.yaml");
    assertTrue(out.contains("environment variable AOAI_EASTUS_KEY is not set"), out);
  }

  @Test
  void adminPortServesHealthReadinessAndMetricsAndDrainsGracefully(@TempDir Path dir) throws Exception {
    try (GatewayFixture gw = new GatewayFixture(dir)) {
      HttpClient http = HttpClient.newHttpClient();
      String admin = "http://127.0.0.1:" + gw.server.adminPort();
      assertEquals(200, http.send(HttpRequest.newBuilder(URI.create(admin + "/healthz")).build(),
          HttpResponse.BodyHandlers.ofString()).statusCode());
      assertEquals(200, http.send(HttpRequest.newBuilder(URI.create(admin + "/readyz")).build(),
          HttpResponse.BodyHandlers.ofString()).statusCode());
      gw.envoy.send(dev.weir.testkit.ExchangeRequest.post("/v1/chat/completions",
          "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
          "authorization", "Bearer " + GatewayFixture.FINANCE_KEY));
      // Recorded when the ext_proc stream ends, a moment after the client has its answer.
      String metrics = "";
      for (int i = 0; i < 100 && !metrics.contains("gen_ai_server_request_duration_seconds"); i++) {
        Thread.sleep(20);
        metrics = http.send(HttpRequest.newBuilder(URI.create(admin + "/metrics")).build(),
            HttpResponse.BodyHandlers.ofString()).body();
      }
      assertTrue(metrics.contains("weir_exchanges_total{"), metrics);
      assertTrue(metrics.contains("outcome=\"served\""), metrics);
      assertTrue(metrics.contains("gen_ai_server_request_duration_seconds"), metrics);

      // An exchange in flight (request headers answered, body not yet sent) survives shutdown.
      ManagedChannel ch = ManagedChannelBuilder.forAddress("127.0.0.1", gw.server.grpcPort()).usePlaintext().build();
      LinkedBlockingQueue<Object> answers = new LinkedBlockingQueue<>();
      CountDownLatch done = new CountDownLatch(1);
      StreamObserver<ProcessingRequest> stream = ExternalProcessorGrpc.newStub(ch).process(new StreamObserver<>() {
        public void onNext(ProcessingResponse r) { answers.add(r); }
        public void onError(Throwable t) { answers.add(t); done.countDown(); }
        public void onCompleted() { done.countDown(); }
      });
      stream.onNext(ProcessingRequest.newBuilder().setRequestHeaders(HttpHeaders.newBuilder().setHeaders(
          HeaderMap.newBuilder()
              .addHeaders(h(":method", "GET")).addHeaders(h(":path", "/v1/unknown")))).build());
      assertTrue(answers.poll(5, TimeUnit.SECONDS) instanceof ProcessingResponse);
      CompletableFuture<Void> closing = CompletableFuture.runAsync(gw.server::close);
      int ready = 200;
      for (int i = 0; i < 50 && ready == 200; i++) {
        Thread.sleep(20);
        try {
          ready = http.send(HttpRequest.newBuilder(URI.create(admin + "/readyz")).build(),
              HttpResponse.BodyHandlers.ofString()).statusCode();
        } catch (java.io.IOException gone) {
          ready = -1;
        }
      }
      assertEquals(503, ready, "readiness turns false while draining");
      assertTrue(!closing.isDone(), "shutdown waits for the open exchange");
      stream.onCompleted();
      assertTrue(done.await(5, TimeUnit.SECONDS));
      closing.get(5, TimeUnit.SECONDS);
      ch.shutdownNow();
    }
  }

  private static HeaderValue h(String k, String v) {
    return HeaderValue.newBuilder().setKey(k).setRawValue(ByteString.copyFromUtf8(v)).build();
  }
}
