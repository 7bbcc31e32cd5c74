package dev.weir.testkit;

import java.io.IOException;
import java.io.StringWriter;
import java.math.BigInteger;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * A throwaway certificate authority for tests: issues server and client certificates with the
 * SANs asked for and writes them as PEM files. Needs BouncyCastle (bcpkix) on the test classpath.
 */
public final class TestCertificates {
  /** A certificate and its private key, as PEM files. */
  public record Issued(Path cert, Path key) {}

  private static final AtomicLong SERIAL = new AtomicLong(System.currentTimeMillis());
  private final Path dir;
  private final String name;
  private final KeyPair keys;
  private final X509Certificate cert;
  private final Path caFile;

  private TestCertificates(Path dir, String name) throws IOException, GeneralSecurityException {
    this.dir = dir;
    this.name = name;
    this.keys = rsa();
    X500Name subject = new X500Name("CN=" + name);
    X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(subject, serial(), notBefore(), notAfter(),
        subject, keys.getPublic());
    b.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
    b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
    this.cert = sign(b, keys);
    this.caFile = dir.resolve(name + "-ca.pem");
    Files.writeString(caFile, pem(cert));
  }

  /** A new authority whose files go to {@code dir}. */
  public static TestCertificates authority(Path dir, String name) throws IOException, GeneralSecurityException {
    return new TestCertificates(dir, name);
  }

  /** The authority's certificate (what a peer trusts). */
  public Path caFile() {
    return caFile;
  }

  /**
   * Issues a certificate for server and client use.
   *
   * @param sans "dns:localhost", "ip:127.0.0.1" or "uri:spiffe://weir/envoy"
   */
  public Issued issue(String file, String... sans) throws IOException, GeneralSecurityException {
    KeyPair leaf = rsa();
    X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(new X500Name("CN=" + name), serial(), notBefore(),
        notAfter(), new X500Name("CN=" + file), leaf.getPublic());
    List<GeneralName> names = new ArrayList<>();
    for (String san : sans) {
      int colon = san.indexOf(':');
      String kind = san.substring(0, colon);
      String value = san.substring(colon + 1);
      names.add(switch (kind) {
        case "dns" -> new GeneralName(GeneralName.dNSName, value);
        case "ip" -> new GeneralName(GeneralName.iPAddress, InetAddress.getByName(value).getHostAddress());
        case "uri" -> new GeneralName(GeneralName.uniformResourceIdentifier, value);
        default -> throw new IllegalArgumentException("unknown SAN kind " + kind);
      });
    }
    b.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(names.toArray(GeneralName[]::new)));
    b.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
    X509Certificate issued = sign(b, keys);
    Path certFile = dir.resolve(file + ".pem");
    Path keyFile = dir.resolve(file + "-key.pem");
    Files.writeString(certFile, pem(issued));
    StringWriter key = new StringWriter();
    try (JcaPEMWriter w = new JcaPEMWriter(key)) {
      w.writeObject(new JcaPKCS8Generator(leaf.getPrivate(), null));
    }
    Files.writeString(keyFile, key.toString());
    return new Issued(certFile, keyFile);
  }

  private static KeyPair rsa() throws GeneralSecurityException {
    KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
    g.initialize(2048);
    return g.generateKeyPair();
  }

  private static X509Certificate sign(X509v3CertificateBuilder b, KeyPair signer) throws GeneralSecurityException {
    try {
      return new JcaX509CertificateConverter().getCertificate(
          b.build(new JcaContentSignerBuilder("SHA256withRSA").build(signer.getPrivate())));
    } catch (OperatorCreationException e) {
      throw new GeneralSecurityException(e);
    }
  }

  private static String pem(Object o) throws IOException {
    StringWriter out = new StringWriter();
    try (JcaPEMWriter w = new JcaPEMWriter(out)) {
      w.writeObject(o);
    }
    return out.toString();
  }

  private static BigInteger serial() {
    return BigInteger.valueOf(SERIAL.incrementAndGet());
  }

  private static Date notBefore() {
    return Date.from(Instant.now().minus(Duration.ofMinutes(5)));
  }

  private static Date notAfter() {
    return Date.from(Instant.now().plus(Duration.ofDays(1)));
  }
}
