package dev.weir.extproc.limits;

/**
 * The client address that limits keyed by {@code client-ip} count against: Envoy's
 * {@code source.address} attribute and nothing the client can write.
 *
 * <p>Envoy's HTTP connection manager, configured with {@code use_remote_address: true} and
 * {@code xff_num_trusted_hops} (as {@code envoy/*.yaml} and the LDS listener are), works out the
 * trusted client address from the peer and the X-Forwarded-For entries appended by that many
 * trusted proxies ({@code ConnectionManagerUtility::mutateRequestHeaders} in
 * {@code source/common/http/conn_manager_utility.cc} returns it) and makes it the stream's
 * downstream remote address, which is what the {@code source.address} attribute reports. Reading
 * X-Forwarded-For here again would let a client name its own bucket with a forged first entry.
 */
public final class ClientAddress {
  private ClientAddress() {}

  /** The host part of Envoy's {@code source.address} ("ip:port" or "[v6]:port"), or "" without one. */
  public static String fromSourceAddress(String sourceAddress) {
    if (sourceAddress == null || sourceAddress.isBlank()) {
      return "";
    }
    String s = sourceAddress.strip();
    if (s.startsWith("[")) {
      int close = s.indexOf(']');
      return close > 0 ? s.substring(1, close) : s;
    }
    int colon = s.lastIndexOf(':');
    // One colon: ipv4:port. Several without brackets: a bare IPv6 address (a pipe or no port).
    return colon > 0 && s.indexOf(':') == colon ? s.substring(0, colon) : s;
  }
}
