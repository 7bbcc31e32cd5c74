package dev.weir.extproc.safety;

import com.google.i18n.phonenumbers.NumberParseException;
import com.google.i18n.phonenumbers.PhoneNumberUtil;
import com.google.i18n.phonenumbers.Phonenumber;
import com.google.re2j.Matcher;
import com.google.re2j.Pattern;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Personal data found by shape and confirmed by a validator: e-mail addresses, phone numbers
 * (libphonenumber), payment cards (Luhn), IBANs (ISO 13616 mod 97), US social security numbers
 * (SSA's never-issued ranges), IPv4 and IPv6 addresses. Patterns are RE2/J, linear in the text.
 * Thread-safe.
 */
public final class PiiDetector {
  /** The validator-backed kinds, by the category name that metrics and placeholders use. */
  public enum Kind {
    EMAIL("email"), PHONE("phone"), CARD("card"), IBAN("iban"), SSN("ssn"), IP("ip");

    private final String category;

    Kind(String category) {
      this.category = category;
    }

    public String category() {
      return category;
    }
  }

  private static final Pattern EMAIL = Pattern.compile(
      "[A-Za-z0-9](?:[A-Za-z0-9._%+\\-]{0,62}[A-Za-z0-9_%+\\-])?@[A-Za-z0-9](?:[A-Za-z0-9\\-]{0,61}[A-Za-z0-9])?"
          + "(?:\\.[A-Za-z0-9](?:[A-Za-z0-9\\-]{0,61}[A-Za-z0-9])?)*\\.[A-Za-z]{2,24}");
  private static final Pattern CARD = Pattern.compile("(?:^|[^0-9A-Za-z])((?:[0-9][ \\-]?){11,18}[0-9])(?:$|[^0-9A-Za-z])");
  private static final Pattern IBAN = Pattern.compile(
      "(?i)(?:^|[^A-Za-z0-9])([A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{1,4}){3,8})(?:$|[^A-Za-z0-9])");
  private static final Pattern SSN = Pattern.compile("(?:^|[^0-9\\-])([0-9]{3})([\\- ]?)([0-9]{2})([\\- ]?)([0-9]{4})(?:$|[^0-9\\-])");
  // Digit groups with the separators people write in phone numbers; slashes and colons are left
  // out on purpose (dates, times). The validator decides.
  private static final Pattern PHONE = Pattern.compile(
      "(?:^|[^0-9A-Za-z+\\-.])((?:\\+|00)?(?:[0-9]{1,4}[ .\\-]?)?(?:\\([0-9]{1,4}\\)[ .\\-]?)?[0-9]{2,8}(?:[ .\\-][0-9]{2,8}){0,4}"
          + "(?:[ ]?(?:x|ext\\.?)[ ]?[0-9]{1,5})?)(?:$|[^0-9A-Za-z])");
  private static final PhoneNumberUtil PHONES = PhoneNumberUtil.getInstance();
  /** Regions a number without a country code is tried against, most common first. */
  private static final List<String> PHONE_REGIONS = List.of("US", "GB", "DE", "FR", "AU", "IT", "ES", "NL", "BE",
      "CH", "SE", "DK", "NO", "FI", "AT", "HU", "CZ", "PL", "IE", "IN", "CA", "ZA", "JP", "BR");

  private static final int[] PHONE_COUNTRY_CODES = PHONE_REGIONS.stream().mapToInt(PHONES::getCountryCodeForRegion)
      .distinct().toArray();

  private final Set<Kind> kinds;

  public PiiDetector(Set<Kind> kinds) {
    this.kinds = kinds.isEmpty() ? EnumSet.noneOf(Kind.class) : EnumSet.copyOf(kinds);
  }

  public static PiiDetector all() {
    return new PiiDetector(EnumSet.allOf(Kind.class));
  }

  /** Findings on the normalised text, overlaps not yet resolved. */
  public void find(String text, List<Finding> out) {
    if (kinds.contains(Kind.EMAIL)) {
      emails(text, out);
    }
    if (kinds.contains(Kind.IP)) {
      addresses(text, out);
    }
    // The number kinds need seven digits or more close together; the regexes only run on such
    // stretches, so prose with a few numbers in it costs one pass over its characters.
    List<Finding> numbers = new ArrayList<>();
    for (int[] w : numberWindows(text)) {
      numbers(text.substring(w[0], w[1]), w[0], numbers);
    }
    out.addAll(numbers);
  }

  private void numbers(String text, int offset, List<Finding> numbers) {
    if (kinds.contains(Kind.IBAN)) {
      Matcher m = IBAN.matcher(text);
      int from = 0;
      while (from < text.length() && m.find(from)) {
        int end = ibanEnd(text, m.start(1), m.end(1));
        if (end > 0) {
          numbers.add(new Finding(Kind.IBAN.category(), offset + m.start(1), offset + end));
        }
        from = Math.max(m.end(1), m.start(1) + 1);
      }
    }
    if (kinds.contains(Kind.CARD)) {
      Matcher m = CARD.matcher(text);
      int from = 0;
      while (from < text.length() && m.find(from)) {
        String digits = digitsOf(m.group(1));
        if (digits.length() >= 12 && digits.length() <= 19 && luhn(digits) && !allSame(digits)) {
          numbers.add(new Finding(Kind.CARD.category(), offset + m.start(1), offset + m.end(1)));
        }
        from = m.end(1);
      }
    }
    if (kinds.contains(Kind.SSN)) {
      Matcher m = SSN.matcher(text);
      int from = 0;
      while (from < text.length() && m.find(from)) {
        if (m.group(2).equals(m.group(4)) && ssn(m.group(1), m.group(3), m.group(5))) {
          numbers.add(new Finding(Kind.SSN.category(), offset + m.start(1), offset + m.end(5)));
        }
        from = m.end(5);
      }
    }
    if (kinds.contains(Kind.PHONE)) {
      Matcher m = PHONE.matcher(text);
      int from = 0;
      while (from < text.length() && m.find(from)) {
        Finding f = new Finding(Kind.PHONE.category(), offset + m.start(1), offset + m.end(1));
        if (numbers.stream().noneMatch(f::overlaps) && !notAPhone(text, m.group(1), m.end(1)) && phone(m.group(1))) {
          numbers.add(f);
        }
        from = Math.max(m.end(1), m.start(1) + 1);
      }
    }
  }

  /**
   * Stretches with seven digits or more, each digit at most six characters from the next, widened
   * to the surrounding whitespace (an IBAN's country code, a phone's "+44 (").
   */
  static List<int[]> numberWindows(String text) {
    List<int[]> out = new ArrayList<>();
    int n = text.length();
    int i = 0;
    while (i < n) {
      while (i < n && !isDigit(text.charAt(i))) {
        i++;
      }
      if (i == n) {
        break;
      }
      int first = i;
      int last = i;
      int digits = 0;
      while (i < n && i - last <= 6) {
        if (isDigit(text.charAt(i))) {
          digits++;
          last = i;
        } else if (text.charAt(i) == '\n') {
          break;
        }
        i++;
      }
      if (digits >= 7) {
        int from = first;
        while (from > 0 && first - from < 40 && !Character.isWhitespace(text.charAt(from - 1))) {
          from--;
        }
        from = Math.max(0, from - 8);
        int to = Math.min(n, last + 1 + 24);
        if (!out.isEmpty() && out.get(out.size() - 1)[1] >= from) {
          out.get(out.size() - 1)[1] = to;
        } else {
          out.add(new int[] {from, to});
        }
      }
      i = last + 1;
    }
    return out;
  }

  private static boolean isDigit(char c) {
    return c >= '0' && c <= '9';
  }

  /** E-mail addresses, looked for only around each '@'. */
  private static void emails(String text, List<Finding> out) {
    int at = text.indexOf('@');
    int doneTo = 0;
    while (at >= 0) {
      int from = at;
      while (from > doneTo && at - from < 64 && emailChar(text.charAt(from - 1))) {
        from--;
      }
      int to = at + 1;
      while (to < text.length() && to - at < 256 && (emailChar(text.charAt(to)))) {
        to++;
      }
      Matcher m = EMAIL.matcher(text.substring(from, to));
      if (m.find()) {
        out.add(new Finding(Kind.EMAIL.category(), from + m.start(), from + m.end()));
        doneTo = from + m.end();
      }
      at = text.indexOf('@', Math.max(at + 1, doneTo));
    }
  }

  private static boolean emailChar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || isDigit(c) || "._%+-".indexOf(c) >= 0;
  }

  /** IPv4 and IPv6 addresses: maximal runs of their characters, validated. */
  private static void addresses(String text, List<Finding> out) {
    int n = text.length();
    int i = 0;
    while (i < n) {
      char c = text.charAt(i);
      if (!(isHex(c) || c == ':' || c == '.')) {
        i++;
        continue;
      }
      int start = i;
      int colons = 0;
      int dots = 0;
      boolean digit = false;
      while (i < n && (isHex(text.charAt(i)) || text.charAt(i) == ':' || text.charAt(i) == '.')) {
        colons += text.charAt(i) == ':' ? 1 : 0;
        dots += text.charAt(i) == '.' ? 1 : 0;
        digit |= isDigit(text.charAt(i));
        i++;
      }
      // A hex run glued to a longer word ("deadbeef" inside "deadbeefs") is not an address.
      if ((start > 0 && Character.isLetterOrDigit(text.charAt(start - 1)))
          || (i < n && Character.isLetterOrDigit(text.charAt(i))) || !digit) {
        continue;
      }
      int end = i;
      while (end > start && (text.charAt(end - 1) == '.' || text.charAt(end - 1) == ':')) {
        end--;
      }
      String run = text.substring(start, end);
      boolean v6 = colons >= 2 && ipv6(run);
      if (v6 || (colons == 0 && dots >= 3 && ipv4(run))) {
        out.add(new Finding(Kind.IP.category(), start, end));
      }
    }
  }

  private static boolean isHex(char c) {
    return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  }

  static String digitsOf(String s) {
    StringBuilder b = new StringBuilder(s.length());
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c >= '0' && c <= '9') {
        b.append(c);
      }
    }
    return b.toString();
  }

  private static boolean allSame(String digits) {
    return digits.chars().distinct().count() == 1;
  }

  /** The Luhn checksum every payment card number carries (ISO/IEC 7812-1). */
  static boolean luhn(String digits) {
    int sum = 0;
    boolean dbl = false;
    for (int i = digits.length() - 1; i >= 0; i--) {
      int d = digits.charAt(i) - '0';
      if (dbl) {
        d *= 2;
        if (d > 9) {
          d -= 9;
        }
      }
      sum += d;
      dbl = !dbl;
    }
    return sum % 10 == 0;
  }

  /**
   * The end of the longest valid IBAN starting at {@code start} within the candidate, or -1:
   * the pattern may have swallowed a following word, so shorter prefixes are tried too.
   */
  static int ibanEnd(String text, int start, int end) {
    for (int e = end; e - start >= 15; e--) {
      char last = text.charAt(e - 1);
      if (last == ' ') {
        continue;
      }
      String compact = text.substring(start, e).replace(" ", "").toUpperCase(Locale.ROOT);
      if (compact.length() >= 15 && compact.length() <= 34 && iban(compact)) {
        return e;
      }
    }
    return -1;
  }

  /** ISO 13616: move the first four characters to the end, letters to numbers, mod 97 is 1. */
  static boolean iban(String compact) {
    String moved = compact.substring(4) + compact.substring(0, 4);
    StringBuilder numeric = new StringBuilder(moved.length() * 2);
    for (int i = 0; i < moved.length(); i++) {
      char c = moved.charAt(i);
      if (c >= '0' && c <= '9') {
        numeric.append(c);
      } else if (c >= 'A' && c <= 'Z') {
        numeric.append(c - 'A' + 10);
      } else {
        return false;
      }
    }
    return new BigInteger(numeric.toString()).mod(BigInteger.valueOf(97)).intValue() == 1;
  }

  /** SSA never issues area 000, 666 or 900-999, group 00 or serial 0000. */
  static boolean ssn(String area, String group, String serial) {
    int a = Integer.parseInt(area);
    return a != 0 && a != 666 && a < 900 && !group.equals("00") && !serial.equals("0000");
  }

  static boolean ipv4(String s) {
    String[] parts = s.split("\\.");
    if (parts.length != 4) {
      return false;
    }
    for (String p : parts) {
      if (p.isEmpty() || p.length() > 3 || !p.chars().allMatch(ch -> ch >= '0' && ch <= '9')
          || p.length() > 1 && p.charAt(0) == '0' || Integer.parseInt(p) > 255) {
        return false;
      }
    }
    return true;
  }

  /** RFC 4291 section 2.2 text forms, including "::" and a trailing IPv4 part. */
  static boolean ipv6(String s) {
    int dbl = s.indexOf("::");
    if (dbl >= 0 && s.indexOf("::", dbl + 1) >= 0) {
      return false;
    }
    String body = s;
    int groupsNeeded = 8;
    int lastColon = s.lastIndexOf(':');
    if (s.indexOf('.') > lastColon) {
      if (!ipv4(s.substring(lastColon + 1))) {
        return false;
      }
      body = s.substring(0, lastColon + 1) + "0";
      groupsNeeded = 7;
    }
    int groups = 0;
    String[] halves = dbl >= 0 ? new String[] {body.substring(0, body.indexOf("::")), body.substring(body.indexOf("::") + 2)}
        : new String[] {body};
    for (String half : halves) {
      if (half.isEmpty()) {
        continue;
      }
      for (String g : half.split(":", -1)) {
        if (g.isEmpty() || g.length() > 4) {
          return false;
        }
        groups++;
      }
    }
    // Without "::" all eight groups are written; with it, fewer (and at least two colons in all).
    return dbl >= 0 ? groups < groupsNeeded : groups == groupsNeeded;
  }

  private static final Pattern ISO_DATE = Pattern.compile("^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}");
  private static final Pattern POSTCODE = Pattern.compile("^[0-9]{4,5}-[0-9]{3}$");
  private static final Pattern NEXT_WORD = Pattern.compile("^ ([A-Za-z]+)");
  private static final Set<String> PHONE_WORDS = Set.of("office", "fax", "mobile", "cell", "home", "work", "tel",
      "phone", "desk", "ext");

  /**
   * Number shapes that libphonenumber accepts but that are something else: a date and time, a
   * postcode such as 3610-114, a bare run of digits shorter than a national number, and a house
   * number followed by its street ("2450 Crown St").
   */
  static boolean notAPhone(String text, String candidate, int end) {
    if (end < text.length() && text.charAt(end) == ':' || ISO_DATE.matcher(candidate).find()
        || POSTCODE.matcher(candidate).matches()) {
      return true;
    }
    boolean international = candidate.startsWith("+") || candidate.startsWith("(");
    String[] groups = candidate.split("[ .\\-]+");
    if (!international && groups.length == 1 && digitsOf(candidate).length() < 10) {
      return true;
    }
    if (!international && groups.length <= 2) {
      Matcher next = NEXT_WORD.matcher(text.substring(end, Math.min(text.length(), end + 24)));
      return next.find() && !PHONE_WORDS.contains(next.group(1).toLowerCase(Locale.ROOT));
    }
    return false;
  }

  /**
   * A number libphonenumber calls possible: with its country code when written with one, else
   * for one of the common regions. Seven digits at least, so years and ZIP codes stay out.
   */
  static boolean phone(String candidate) {
    String digits = digitsOf(candidate);
    int ext = candidate.indexOf('x');
    String main = ext >= 0 ? digitsOf(candidate.substring(0, ext)) : digitsOf(candidate);
    if (main.length() < 7 || main.length() > 15 || digits.length() > 20) {
      return false;
    }
    boolean international = candidate.startsWith("+") || candidate.startsWith("00");
    try {
      if (international) {
        return PHONES.isPossibleNumber(PHONES.parse(candidate.startsWith("00") ? "+" + candidate.substring(2)
            : candidate, "ZZ"));
      }
      // Without a country code the number is what is written, less a trunk prefix of zeros; its
      // length is checked against each region's metadata without parsing the text again.
      String national = main.replaceFirst("^0+", "");
      if (national.length() < 5 || national.length() > 13) {
        return false;
      }
      long number = Long.parseLong(national);
      for (int countryCode : PHONE_COUNTRY_CODES) {
        if (PHONES.isPossibleNumber(new Phonenumber.PhoneNumber().setCountryCode(countryCode).setNationalNumber(number))) {
          return true;
        }
      }
    } catch (NumberParseException e) {
      return false;
    }
    return false;
  }
}
