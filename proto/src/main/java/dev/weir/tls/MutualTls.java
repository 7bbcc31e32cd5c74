package dev.weir.tls;

import dev.weir.config.v1.ServerTls;
import io.grpc.ServerCredentials;
import io.grpc.TlsServerCredentials;
import io.grpc.util.AdvancedTlsX509KeyManager;
import io.grpc.util.AdvancedTlsX509TrustManager;
import java.io.Closeable;
import java.io.File;
import java.io.IOException;
import java.net.InetAddress;
import java.net.Socket;
import java.net.UnknownHostException;
import java.security.GeneralSecurityException;
import java.security.cert.CertificateException;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLEngine;

/**
 * Server credentials for a gRPC port that only Envoy may use: TLS with a required client
 * certificate signed by the configured CA and carrying one of the allowed SANs. Certificate, key
 * and CA files are re-read when they change (grpc-java's AdvancedTls managers poll them), so a
 * rotated certificate takes effect without a restart.
 */
public final class MutualTls implements Closeable {
  /** How often the certificate files are checked for changes: grpc-java's minimum, one minute. */
  static final long RELOAD_SECONDS = 60;

  private final ServerCredentials credentials;
  private final ScheduledExecutorService reloader;
  private final List<Closeable> watches = new ArrayList<>();

  private MutualTls(ServerTls tls, long reloadSeconds) throws IOException, GeneralSecurityException {
    reloader = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "weir-tls-reload");
      t.setDaemon(true);
      return t;
    });
    try {
      AdvancedTlsX509KeyManager keys = new AdvancedTlsX509KeyManager();
      watches.add(keys.updateIdentityCredentials(new File(tls.getCertFile()), new File(tls.getKeyFile()),
          reloadSeconds, TimeUnit.SECONDS, reloader)::close);
      Set<String> allowed = Set.copyOf(tls.getAllowedClientSansList());
      AdvancedTlsX509TrustManager trust = AdvancedTlsX509TrustManager.newBuilder()
          // The chain is checked against the CA; the client's identity by SAN, below (a client
          // has no host name to verify).
          .setVerification(AdvancedTlsX509TrustManager.Verification.CERTIFICATE_ONLY_VERIFICATION)
          .setSslSocketAndEnginePeerVerifier(new SanAllowList(allowed))
          .build();
      watches.add(trust.updateTrustCredentials(new File(tls.getClientCaFile()), reloadSeconds,
          TimeUnit.SECONDS, reloader)::close);
      credentials = TlsServerCredentials.newBuilder()
          .keyManager(keys)
          .trustManager(trust)
          .clientAuth(TlsServerCredentials.ClientAuth.REQUIRE)
          .build();
    } catch (IOException | GeneralSecurityException | RuntimeException e) {
      close();
      throw e;
    }
  }

  /** Reads the files now (a missing or unreadable one fails here, at start) and watches them. */
  public static MutualTls server(ServerTls tls) throws IOException, GeneralSecurityException {
    return new MutualTls(tls, RELOAD_SECONDS);
  }

  public ServerCredentials credentials() {
    return credentials;
  }

  /** Whether a bind address reaches only this machine. */
  public static boolean isLoopback(String host) {
    try {
      return InetAddress.getByName(host).isLoopbackAddress();
    } catch (UnknownHostException e) {
      return false;
    }
  }

  @Override
  public void close() {
    for (Closeable c : watches) {
      try {
        c.close();
      } catch (IOException e) {
        // stopping the poll; nothing to recover
      }
    }
    reloader.shutdownNow();
  }

  /** Accepts a client certificate only if one of its SANs (DNS, URI or IP) is allowed. */
  static final class SanAllowList implements AdvancedTlsX509TrustManager.SslSocketAndEnginePeerVerifier {
    private final Set<String> allowed;

    SanAllowList(Set<String> allowed) {
      this.allowed = allowed;
    }

    @Override
    public void verifyPeerCertificate(X509Certificate[] chain, String authType, Socket socket)
        throws CertificateException {
      check(chain);
    }

    @Override
    public void verifyPeerCertificate(X509Certificate[] chain, String authType, SSLEngine engine)
        throws CertificateException {
      check(chain);
    }

    void check(X509Certificate[] chain) throws CertificateException {
      if (chain == null || chain.length == 0) {
        throw new CertificateException("no client certificate");
      }
      List<String> sans = sans(chain[0]);
      for (String san : sans) {
        if (allowed.contains(san)) {
          return;
        }
      }
      throw new CertificateException("client certificate SANs " + sans + " are not in the allow-list");
    }

    static List<String> sans(X509Certificate cert) throws CertificateParsingException {
      Collection<List<?>> names = cert.getSubjectAlternativeNames();
      List<String> out = new ArrayList<>();
      if (names != null) {
        for (List<?> n : names) {
          int type = (Integer) n.get(0);
          // 1 rfc822, 2 DNS, 6 URI, 7 IP (RFC 5280 GeneralName)
          if ((type == 2 || type == 6 || type == 7) && n.get(1) instanceof String s) {
            out.add(s);
          }
        }
      }
      return out;
    }
  }
}
