package dev.weir.testkit;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.util.JsonFormat;
import io.envoyproxy.envoy.config.bootstrap.v3.Bootstrap;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.extensions.access_loggers.file.v3.FileAccessLog;
import io.envoyproxy.envoy.extensions.access_loggers.stream.v3.StdoutAccessLog;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor;
import io.envoyproxy.envoy.extensions.filters.http.header_mutation.v3.HeaderMutation;
import io.envoyproxy.envoy.extensions.filters.http.router.v3.Router;
import io.envoyproxy.envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate;
import io.envoyproxy.envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext;
import io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;

/**
 * Parses Envoy YAML into Envoy's own protobuf types strictly: unknown fields, wrong types and
 * {@code typed_config} of a type Envoy would not know fail. {@link #REGISTRY} holds every
 * {@code typed_config} type Weir's configs use; a config using another must add it here, which
 * keeps the list of extensions we depend on explicit.
 */
public final class EnvoyYaml {
  public static final JsonFormat.TypeRegistry REGISTRY = JsonFormat.TypeRegistry.newBuilder()
      .add(Bootstrap.getDescriptor())
      .add(Listener.getDescriptor())
      .add(Cluster.getDescriptor())
      .add(ClusterLoadAssignment.getDescriptor())
      .add(RouteConfiguration.getDescriptor())
      .add(HttpConnectionManager.getDescriptor())
      .add(Router.getDescriptor())
      .add(ExternalProcessor.getDescriptor())
      .add(UpstreamCodec.getDescriptor())
      .add(HttpProtocolOptions.getDescriptor())
      .add(HeaderMutation.getDescriptor())
      .add(UpstreamTlsContext.getDescriptor())
      .add(io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.Secret.getDescriptor())
      .add(PreviousHostsPredicate.getDescriptor())
      .add(PreviousPrioritiesConfig.getDescriptor())
      .add(FileAccessLog.getDescriptor())
      .add(StdoutAccessLog.getDescriptor())
      .add(io.envoyproxy.envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter.getDescriptor())
      .build();

  private static final ObjectMapper JSON = new ObjectMapper();

  private EnvoyYaml() {}

  public static Bootstrap bootstrap(Path file) throws IOException {
    return parse(Files.readString(file, StandardCharsets.UTF_8), Bootstrap.newBuilder()).build();
  }

  /** Parses YAML into {@code builder}; throws with Envoy-protobuf's message on any mismatch. */
  public static <B extends Message.Builder> B parse(String yaml, B builder) throws IOException {
    LoaderOptions options = new LoaderOptions();
    options.setAllowDuplicateKeys(false);
    Object tree = new Yaml(options).load(yaml);
    String json = JSON.writeValueAsString(tree);
    try {
      JsonFormat.parser().usingTypeRegistry(REGISTRY).merge(json, builder);
    } catch (InvalidProtocolBufferException e) {
      throw new IOException("not a valid " + builder.getDescriptorForType().getFullName() + ": " + e.getMessage(), e);
    }
    return builder;
  }

  /** Prints a resource as Envoy-style JSON (for docs, admin output and failure messages). */
  public static String print(Message message) {
    try {
      return JsonFormat.printer().usingTypeRegistry(REGISTRY).print(message);
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalArgumentException("resource holds a typed_config missing from the registry", e);
    }
  }
}
