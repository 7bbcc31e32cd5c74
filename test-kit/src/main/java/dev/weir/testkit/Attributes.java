package dev.weir.testkit;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Resolves the attributes an ext_proc filter asks for, as Envoy's CEL attribute names define them. */
final class Attributes {
  private static final Pattern HOST_METADATA_PATH = Pattern.compile(
      "xds\\.upstream_host_metadata\\.filter_metadata\\['([^']+)'\\]\\['([^']+)'\\]");

  private Attributes() {}

  static Map<String, Struct> resolve(List<String> names, HeaderList headers, UpstreamHost host, String cluster) {
    if (names.isEmpty()) {
      return Map.of();
    }
    Struct.Builder s = Struct.newBuilder();
    for (String name : names) {
      Value v = null;
      Matcher m = HOST_METADATA_PATH.matcher(name);
      if (m.matches() && host != null) {
        Struct ns = host.metadata().getFilterMetadataMap().get(m.group(1));
        v = ns == null ? null : ns.getFieldsMap().get(m.group(2));
      } else if (name.equals("xds.upstream_host_metadata") && host != null) {
        Struct.Builder fm = Struct.newBuilder();
        host.metadata().getFilterMetadataMap().forEach((k, st) -> fm.putFields(k, Value.newBuilder().setStructValue(st).build()));
        v = Value.newBuilder().setStructValue(Struct.newBuilder()
            .putFields("filter_metadata", Value.newBuilder().setStructValue(fm).build())).build();
      } else if (name.equals("xds.cluster_name") && cluster != null) {
        v = Value.newBuilder().setStringValue(cluster).build();
      } else if (name.equals("request.path")) {
        v = Value.newBuilder().setStringValue(headers.get(":path")).build();
      } else if (name.equals("request.method")) {
        v = Value.newBuilder().setStringValue(headers.get(":method")).build();
      } else if (name.equals("source.address")) {
        v = Value.newBuilder().setStringValue("127.0.0.1:40000").build();
      }
      if (v != null) { // Envoy leaves out attributes it cannot resolve
        s.putFields(name, v);
      }
    }
    return s.getFieldsCount() == 0 ? Map.of() : Map.of("envoy.filters.http.ext_proc", s.build());
  }
}
