package dev.weir.testkit;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** An ordered HTTP header multimap with lower-cased names, as Envoy's HeaderMap keeps them. */
public final class HeaderList {
  private final List<Map.Entry<String, String>> entries = new ArrayList<>();

  public HeaderList() {}

  public HeaderList(HeaderList other) {
    entries.addAll(other.entries);
  }

  public static HeaderList of(String... nameValues) {
    HeaderList h = new HeaderList();
    for (int i = 0; i < nameValues.length; i += 2) {
      h.add(nameValues[i], nameValues[i + 1]);
    }
    return h;
  }

  public HeaderList add(String name, String value) {
    entries.add(Map.entry(name.toLowerCase(Locale.ROOT), value));
    return this;
  }

  public HeaderList set(String name, String value) {
    String n = name.toLowerCase(Locale.ROOT);
    int first = -1;
    for (int i = 0; i < entries.size(); i++) {
      if (entries.get(i).getKey().equals(n)) {
        if (first < 0) {
          first = i;
          entries.set(i, Map.entry(n, value));
        } else {
          entries.remove(i--);
        }
      }
    }
    if (first < 0) {
      entries.add(Map.entry(n, value));
    }
    return this;
  }

  public boolean remove(String name) {
    String n = name.toLowerCase(Locale.ROOT);
    return entries.removeIf(e -> e.getKey().equals(n));
  }

  public String get(String name) {
    String n = name.toLowerCase(Locale.ROOT);
    for (Map.Entry<String, String> e : entries) {
      if (e.getKey().equals(n)) {
        return e.getValue();
      }
    }
    return null;
  }

  public List<String> getAll(String name) {
    String n = name.toLowerCase(Locale.ROOT);
    return entries.stream().filter(e -> e.getKey().equals(n)).map(Map.Entry::getValue).toList();
  }

  public boolean contains(String name) {
    return get(name) != null;
  }

  public List<Map.Entry<String, String>> entries() {
    return List.copyOf(entries);
  }

  @Override
  public String toString() {
    return entries.toString();
  }
}
