package dev.weir.config;

import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.EnumDescriptor;
import com.google.protobuf.Descriptors.EnumValueDescriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Descriptors.OneofDescriptor;
import com.google.protobuf.Message;
import java.io.StringReader;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.error.MarkedYAMLException;
import org.yaml.snakeyaml.error.YAMLException;
import org.yaml.snakeyaml.nodes.MappingNode;
import org.yaml.snakeyaml.nodes.Node;
import org.yaml.snakeyaml.nodes.NodeTuple;
import org.yaml.snakeyaml.nodes.ScalarNode;
import org.yaml.snakeyaml.nodes.SequenceNode;
import org.yaml.snakeyaml.nodes.Tag;

/**
 * Reads YAML into a protobuf message strictly, by the message's descriptor: unknown keys, wrong
 * types and out-of-range numbers are reported with the field path and line rather than guessed at.
 *
 * <p>We walk SnakeYAML's node tree ourselves instead of going through JSON and {@code JsonFormat}
 * because JsonFormat stops at the first error and names neither the path nor the line.
 */
final class YamlProtoReader {
  private final List<ConfigProblem> problems;
  private final Map<String, Integer> lines = new HashMap<>();

  YamlProtoReader(List<ConfigProblem> problems) {
    this.problems = problems;
  }

  /** Line (1-based) where each field path was written; used to point semantic errors at lines. */
  Map<String, Integer> lines() {
    return lines;
  }

  void read(String yaml, Message.Builder into) {
    Node root;
    try {
      LoaderOptions options = new LoaderOptions();
      options.setAllowDuplicateKeys(true); // we report duplicates ourselves, with the path
      options.setMaxAliasesForCollections(50);
      root = new Yaml(options).compose(new StringReader(yaml));
    } catch (MarkedYAMLException e) {
      int line = e.getProblemMark() == null ? 0 : e.getProblemMark().getLine() + 1;
      problems.add(new ConfigProblem("", line, "not valid YAML: " + e.getProblem()));
      return;
    } catch (YAMLException e) {
      problems.add(new ConfigProblem("", 0, "not valid YAML: " + e.getMessage()));
      return;
    }
    if (root == null) {
      problems.add(new ConfigProblem("", 0, "the file is empty"));
      return;
    }
    readMessage(root, "", into);
  }

  private void readMessage(Node node, String path, Message.Builder builder) {
    if (!(node instanceof MappingNode mapping)) {
      problem(path, node, "expected a mapping (key: value), found " + describe(node));
      return;
    }
    Descriptor descriptor = builder.getDescriptorForType();
    Map<String, FieldDescriptor> byName = new HashMap<>();
    for (FieldDescriptor field : descriptor.getFields()) {
      byName.put(field.getJsonName(), field);
    }
    Set<String> seen = new HashSet<>();
    Map<OneofDescriptor, String> oneofSeen = new HashMap<>();
    for (NodeTuple tuple : mapping.getValue()) {
      if (!(tuple.getKeyNode() instanceof ScalarNode keyNode)) {
        problem(path, tuple.getKeyNode(), "keys must be plain names");
        continue;
      }
      String key = keyNode.getValue();
      String fieldPath = path.isEmpty() ? key : path + "." + key;
      lines.putIfAbsent(fieldPath, keyNode.getStartMark().getLine() + 1);
      FieldDescriptor field = byName.get(key);
      if (field == null) {
        String expected = descriptor.getFields().stream()
            .map(FieldDescriptor::getJsonName).sorted().collect(Collectors.joining(", "));
        problem(fieldPath, keyNode, "unknown key \"" + key + "\" (expected one of: " + expected + ")");
        continue;
      }
      if (!seen.add(key)) {
        problem(fieldPath, keyNode, "key \"" + key + "\" appears twice");
        continue;
      }
      Node value = tuple.getValueNode();
      if (isNull(value)) {
        continue; // "key:" with nothing after it means "not set"
      }
      OneofDescriptor oneof = field.getRealContainingOneof();
      if (oneof != null) {
        String other = oneofSeen.putIfAbsent(oneof, key);
        if (other != null) {
          problem(fieldPath, keyNode, "set only one of \"" + other + "\" and \"" + key + "\"");
          continue;
        }
      }
      if (field.isRepeated()) {
        if (!(value instanceof SequenceNode sequence)) {
          problem(fieldPath, value, "expected a list, found " + describe(value));
          continue;
        }
        List<Node> items = sequence.getValue();
        for (int i = 0; i < items.size(); i++) {
          String itemPath = fieldPath + "[" + i + "]";
          lines.putIfAbsent(itemPath, items.get(i).getStartMark().getLine() + 1);
          Object converted = convert(field, items.get(i), itemPath, builder);
          if (converted != null) {
            builder.addRepeatedField(field, converted);
          }
        }
      } else {
        Object converted = convert(field, value, fieldPath, builder);
        if (converted != null) {
          builder.setField(field, converted);
        }
      }
    }
  }

  private Object convert(FieldDescriptor field, Node node, String path, Message.Builder parent) {
    if (field.getJavaType() == FieldDescriptor.JavaType.MESSAGE) {
      Message.Builder child = parent.newBuilderForField(field);
      int before = problems.size();
      readMessage(node, path, child);
      return problems.size() == before ? child.build() : null;
    }
    if (!(node instanceof ScalarNode scalar)) {
      problem(path, node, "expected " + typeName(field) + ", found " + describe(node));
      return null;
    }
    String text = scalar.getValue();
    switch (field.getJavaType()) {
      case STRING:
        // Any scalar is a string: "2024-10-21" must not become a date, nor 1.0 a number.
        return text;
      case BOOLEAN:
        if (text.equals("true") || text.equals("false")) {
          return Boolean.parseBoolean(text);
        }
        problem(path, node, "expected true or false, found \"" + text + "\"");
        return null;
      case INT:
      case LONG:
        return integer(field, scalar, path);
      case DOUBLE:
      case FLOAT:
        try {
          double d = Double.parseDouble(text);
          return field.getJavaType() == FieldDescriptor.JavaType.FLOAT ? (Object) (float) d : d;
        } catch (NumberFormatException e) {
          problem(path, node, "expected a number, found \"" + text + "\"");
          return null;
        }
      case ENUM:
        return enumValue(field.getEnumType(), scalar, path);
      default:
        problem(path, node, "fields of type " + field.getJavaType() + " cannot be set from YAML");
        return null;
    }
  }

  private Object integer(FieldDescriptor field, ScalarNode node, String path) {
    long value;
    try {
      value = Long.parseLong(node.getValue().replace("_", ""));
    } catch (NumberFormatException e) {
      problem(path, node, "expected a whole number, found \"" + node.getValue() + "\"");
      return null;
    }
    boolean unsigned = switch (field.getType()) {
      case UINT32, UINT64, FIXED32, FIXED64 -> true;
      default -> false;
    };
    if (unsigned && value < 0) {
      problem(path, node, "must not be negative, found " + value);
      return null;
    }
    if (field.getJavaType() == FieldDescriptor.JavaType.INT) {
      long max = unsigned ? 0xFFFF_FFFFL : Integer.MAX_VALUE;
      if (value > max || value < Integer.MIN_VALUE) {
        problem(path, node, "out of range: " + value);
        return null;
      }
      return (int) value;
    }
    return value;
  }

  private Object enumValue(EnumDescriptor type, ScalarNode node, String path) {
    String wanted = node.getValue().trim().toUpperCase(Locale.ROOT).replace('-', '_');
    for (EnumValueDescriptor value : type.getValues()) {
      if (value.getNumber() != 0 && value.getName().equals(wanted)) {
        return value;
      }
    }
    problem(path, node, "unknown value \"" + node.getValue() + "\" (expected one of: "
        + enumNames(type) + ")");
    return null;
  }

  static String enumNames(EnumDescriptor type) {
    return type.getValues().stream()
        .filter(v -> v.getNumber() != 0)
        .map(YamlProtoReader::yamlName)
        .collect(Collectors.joining(", "));
  }

  /** The spelling users write in YAML for an enum value: OPENAI_COMPATIBLE → openai-compatible. */
  static String yamlName(EnumValueDescriptor value) {
    return value.getName().toLowerCase(Locale.ROOT).replace('_', '-');
  }

  private static boolean isNull(Node node) {
    return node instanceof ScalarNode scalar && Tag.NULL.equals(scalar.getTag());
  }

  private static String typeName(FieldDescriptor field) {
    return switch (field.getJavaType()) {
      case STRING -> "a string";
      case BOOLEAN -> "true or false";
      case INT, LONG -> "a whole number";
      case FLOAT, DOUBLE -> "a number";
      case ENUM -> "one of: " + enumNames(field.getEnumType());
      default -> "a value";
    };
  }

  private static String describe(Node node) {
    if (node instanceof MappingNode) {
      return "a mapping";
    }
    if (node instanceof SequenceNode) {
      return "a list";
    }
    return "\"" + ((ScalarNode) node).getValue() + "\"";
  }

  private void problem(String path, Node node, String message) {
    problems.add(new ConfigProblem(path, node.getStartMark().getLine() + 1, message));
  }
}
