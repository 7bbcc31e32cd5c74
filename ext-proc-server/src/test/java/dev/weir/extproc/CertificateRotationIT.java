package dev.weir.extproc;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.weir.config.v1.ServerTls;
import dev.weir.testkit.TestCertificates;
import dev.weir.tls.MutualTls;
import io.grpc.CallOptions;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ClientCalls;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A CA file replaced on disk is picked up by a running mTLS server, without a restart. grpc-java
 * polls the files at most once a minute, so this waits up to two minutes (an integration test).
 */
class CertificateRotationIT {
  /** A method no server implements: UNIMPLEMENTED means the TLS handshake passed, UNAVAILABLE not. */
  static final MethodDescriptor<byte[], byte[]> PROBE = MethodDescriptor.<byte[], byte[]>newBuilder()
      .setType(MethodDescriptor.MethodType.UNARY).setFullMethodName("weir.Probe/Call")
      .setRequestMarshaller(new Bytes()).setResponseMarshaller(new Bytes()).build();

  static final class Bytes implements MethodDescriptor.Marshaller<byte[]> {
    public InputStream stream(byte[] value) {
      return new ByteArrayInputStream(value);
    }

    public byte[] parse(InputStream stream) {
      try {
        return stream.readAllBytes();
      } catch (java.io.IOException e) {
        throw new IllegalStateException(e);
      }
    }
  }

  static Status.Code call(int port, TestCertificates serverCa, TestCertificates.Issued client) throws Exception {
    // Like Envoy, the client presents its certificate whatever CA names the server advertises (the
    // JDK's default key manager would hold it back when the names do not match, and the server's
    // BoringSSL context keeps advertising the names it started with).
    io.grpc.util.AdvancedTlsX509KeyManager keys = new io.grpc.util.AdvancedTlsX509KeyManager();
    keys.updateIdentityCredentials(client.cert().toFile(), client.key().toFile());
    ManagedChannel ch = Grpc.newChannelBuilderForAddress("localhost", port, TlsChannelCredentials.newBuilder()
        .keyManager(keys).trustManager(serverCa.caFile().toFile()).build())
        .build();
    try {
      ClientCalls.blockingUnaryCall(ch, PROBE, CallOptions.DEFAULT.withDeadlineAfter(5, TimeUnit.SECONDS), new byte[0]);
      return Status.Code.OK;
    } catch (StatusRuntimeException e) {
      return e.getStatus().getCode();
    } finally {
      ch.shutdownNow();
    }
  }

  @Test
  void aNewClientCaTakesEffectWithoutARestart(@TempDir Path dir) throws Exception {
    TestCertificates serverCa = TestCertificates.authority(dir, "server-ca");
    TestCertificates oldClients = TestCertificates.authority(dir, "old-clients");
    TestCertificates newClients = TestCertificates.authority(dir, "new-clients");
    TestCertificates.Issued serverCert = serverCa.issue("server", "dns:localhost");
    Path clientCa = dir.resolve("client-ca.pem");
    Files.copy(oldClients.caFile(), clientCa);
    ServerTls tls = ServerTls.newBuilder().setCertFile(serverCert.cert().toString())
        .setKeyFile(serverCert.key().toString()).setClientCaFile(clientCa.toString())
        .addAllowedClientSans("spiffe://weir/envoy").build();
    TestCertificates.Issued oldEnvoy = oldClients.issue("old-envoy", "uri:spiffe://weir/envoy");
    TestCertificates.Issued newEnvoy = newClients.issue("new-envoy", "uri:spiffe://weir/envoy");
    try (MutualTls mtls = MutualTls.server(tls)) {
      Server server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0), mtls.credentials())
          .build().start();
      try {
        assertEquals(Status.Code.UNIMPLEMENTED, call(server.getPort(), serverCa, oldEnvoy));
        assertEquals(Status.Code.UNAVAILABLE, call(server.getPort(), serverCa, newEnvoy));
        Path next = dir.resolve("client-ca.next");
        Files.copy(newClients.caFile(), next);
        Files.move(next, clientCa, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        // The file is polled once a minute; allow two polls.
        Status.Code now = Status.Code.UNAVAILABLE;
        for (int i = 0; i < 120 && now != Status.Code.UNIMPLEMENTED; i++) {
          Thread.sleep(1000);
          now = call(server.getPort(), serverCa, newEnvoy);
        }
        assertEquals(Status.Code.UNIMPLEMENTED, now, "the new CA's client is accepted");
        assertEquals(Status.Code.UNAVAILABLE, call(server.getPort(), serverCa, oldEnvoy), "the old CA's is not");
      } finally {
        server.shutdownNow();
      }
    }
  }
}
