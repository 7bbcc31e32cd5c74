package dev.weir.config;

import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import dev.weir.config.v1.OptionsProto;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/** Applies the defaults declared on the config schema's fields ({@code (default_value)} in options.proto). */
public final class Defaults {
  /** The {@code (default_value)} that makes an absent block present, so its fields get defaults. */
  public static final String PRESENT = "{}";

  private Defaults() {}

  /** The default declared on a field, if any. */
  public static Optional<String> declared(FieldDescriptor field) {
    String value = field.getOptions().getExtension(OptionsProto.defaultValue);
    return value.isEmpty() ? Optional.empty() : Optional.of(value);
  }

  /** The words describing a default computed from other values, if the field has one. */
  public static Optional<String> derived(FieldDescriptor field) {
    String value = field.getOptions().getExtension(OptionsProto.derivedDefault);
    return value.isEmpty() ? Optional.empty() : Optional.of(value);
  }

  /** Every field under {@code root} by its YAML path, such as {@code pools[].timeouts.requestSeconds}. */
  public static Map<String, FieldDescriptor> fields(Descriptor root) {
    Map<String, FieldDescriptor> out = new LinkedHashMap<>();
    collect(root, "", out);
    return out;
  }

  private static void collect(Descriptor type, String prefix, Map<String, FieldDescriptor> out) {
    for (FieldDescriptor f : type.getFields()) {
      // Lists of blocks read "pools[]."; a list of plain values is written like a single value.
      boolean list = f.isRepeated() && f.getJavaType() == FieldDescriptor.JavaType.MESSAGE;
      String path = prefix + f.getJsonName() + (list ? "[]" : "");
      out.put(path, f);
      if (f.getJavaType() == FieldDescriptor.JavaType.MESSAGE) {
        collect(f.getMessageType(), path + ".", out);
      }
    }
  }

  /**
   * Sets every field left out to its declared default, through nested and repeated messages. A
   * plain proto3 scalar cannot tell "left out" from "set to 0", so there 0 (or "", or the
   * UNSPECIFIED enum value) means "use the default"; a field declared {@code optional} has
   * presence, so an explicit 0 stays 0 (traces.sampleRatio, scanners[].cacheSeconds).
   */
  public static void apply(Message.Builder builder) {
    for (FieldDescriptor f : builder.getDescriptorForType().getFields()) {
      Optional<String> value = declared(f);
      if (f.getJavaType() == FieldDescriptor.JavaType.MESSAGE) {
        if (f.isRepeated()) {
          for (int i = 0; i < builder.getRepeatedFieldCount(f); i++) {
            apply(builder.getRepeatedFieldBuilder(f, i));
          }
        } else if (builder.hasField(f) || value.filter(PRESENT::equals).isPresent()) {
          apply(builder.getFieldBuilder(f));
        }
      } else if (value.isPresent() && !f.isRepeated() && !builder.hasField(f)) {
        builder.setField(f, parse(f, value.get()));
      }
    }
  }

  /** A declared default as the field's Java value; a bad declaration is a bug in the schema. */
  static Object parse(FieldDescriptor f, String value) {
    try {
      return switch (f.getJavaType()) {
        case INT -> Integer.parseUnsignedInt(value);
        case LONG -> Long.parseUnsignedLong(value);
        case DOUBLE -> Double.parseDouble(value);
        case FLOAT -> Float.parseFloat(value);
        case BOOLEAN -> switch (value) {
          case "true" -> true;
          case "false" -> false;
          default -> throw new IllegalArgumentException("not true or false");
        };
        case STRING -> value;
        case ENUM -> f.getEnumType().getValues().stream()
            .filter(v -> YamlProtoReader.yamlName(v).equals(value))
            .findFirst()
            .orElseThrow(() -> new IllegalArgumentException("no such value"));
        default -> throw new IllegalArgumentException("only {} is a message default");
      };
    } catch (IllegalArgumentException e) {
      throw new IllegalStateException("bad (default_value) \"" + value + "\" on " + f.getFullName() + ": "
          + e.getMessage(), e);
    }
  }

  /** A declared default of an integer field, for code that needs it before any config exists. */
  static int intDefault(Descriptor type, String field) {
    FieldDescriptor f = type.findFieldByName(field);
    return (Integer) parse(f, declared(f).orElseThrow(() -> new IllegalStateException(field + " has no default")));
  }
}
