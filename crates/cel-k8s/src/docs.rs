//! The function reference: one table, [`LIBRARY`], which the compile-time name check reads
//! ([`crate::analysis::references`]: a function not in it, nor among the operators, is an
//! unknown function) and the gate's `docs/cel-functions.md` is generated from. Every example is
//! evaluated by a test and must produce its documented result.

/// One documented function (one line per overload worth telling apart).
pub struct FunctionDoc {
    pub library: &'static str,
    /// The name the compile-time check knows: `quantity`, `sets.contains`, `isSorted`.
    pub name: &'static str,
    pub signature: &'static str,
    pub description: &'static str,
    pub example: &'static str,
    /// What `example` evaluates to, as CEL; `error` for an example that fails at run time.
    pub result: &'static str,
}

const fn f(
    library: &'static str,
    name: &'static str,
    signature: &'static str,
    description: &'static str,
    example: &'static str,
    result: &'static str,
) -> FunctionDoc {
    FunctionDoc {
        library,
        name,
        signature,
        description,
        example,
        result,
    }
}

const STD: &str = "Standard functions and macros";
const OPT: &str = "Optional values";
const OPT_LISTS: &str =
    "Lists of optional values (cel-go's optional library version 2, Kubernetes 1.33)";
const STRINGS: &str = "Strings (cel-go ext.Strings)";
const EXT_LISTS: &str = "Lists (cel-go ext.Lists)";
const K8S_LISTS: &str = "Lists (Kubernetes)";
const SETS: &str = "Sets (cel-go ext.Sets)";
const REGEX: &str = "Regular expressions (Kubernetes)";
const URL: &str = "URLs (Kubernetes)";
const QUANTITY: &str = "Quantities (Kubernetes)";
const IP: &str = "IP addresses (Kubernetes)";
const CIDR: &str = "CIDR ranges (Kubernetes)";
const SEMVER: &str = "Semantic versions (Kubernetes)";
const MATH: &str = "Math (cel-go ext.Math)";
const ENCODERS: &str = "Encoders (cel-go ext.Encoders)";
const BIND: &str = "Bindings and two-variable comprehensions (cel-go ext)";
const JSONPATCH: &str = "JSON Patch (Kubernetes)";
const FORMAT: &str = "Named formats (Kubernetes)";
const KMS: &str = "Cloud KMS live data (cmek-gate extension `kms`)";

pub const LIBRARY: &[FunctionDoc] = &[
    // standard
    f(STD, "size", "size(string|bytes|list|map) -> int", "Length: code points of a string, bytes, elements, entries.", "size('héllo')", "5"),
    f(STD, "contains", "string.contains(string) -> bool", "Whether the substring occurs.", "'kms-key'.contains('key')", "true"),
    f(STD, "startsWith", "string.startsWith(string) -> bool", "Whether the string starts with the prefix.", "'projects/p'.startsWith('projects/')", "true"),
    f(STD, "endsWith", "string.endsWith(string) -> bool", "Whether the string ends with the suffix.", "'a.yaml'.endsWith('.yaml')", "true"),
    f(STD, "matches", "string.matches(string) -> bool", "Whether a RE2 regular expression matches anywhere in the string.", "'projects/p'.matches('^projects/[a-z]+$')", "true"),
    f(STD, "int", "int(uint|double|string|timestamp) -> int", "Conversion to int.", "int('42')", "42"),
    f(STD, "uint", "uint(int|double|string) -> uint", "Conversion to uint.", "uint(42)", "42u"),
    f(STD, "double", "double(int|uint|string) -> double", "Conversion to double.", "double('1.5')", "1.5"),
    f(STD, "string", "string(any scalar, net.IP, net.CIDR) -> string", "Conversion to string.", "string(42)", "'42'"),
    f(STD, "bytes", "bytes(string) -> bytes", "The UTF-8 bytes of a string.", "bytes('ab')", "b'ab'"),
    f(STD, "bool", "bool(string) -> bool", "Conversion of 'true' or 'false'.", "bool('true')", "true"),
    f(STD, "dyn", "dyn(any) -> dyn", "The value, typed dyn.", "dyn(1) == 1.0", "true"),
    f(STD, "type", "type(any) -> type", "The type of a value.", "type('a') == string", "true"),
    f(STD, "duration", "duration(string) -> google.protobuf.Duration", "A duration from Go syntax (1h30m, 10s).", "duration('1h') > duration('59m')", "true"),
    f(STD, "timestamp", "timestamp(string) -> google.protobuf.Timestamp", "A timestamp from RFC 3339 text.", "timestamp('2024-01-02T03:04:05Z') < timestamp('2025-01-01T00:00:00Z')", "true"),
    f(STD, "getFullYear", "timestamp.getFullYear([string]) -> int", "The year, in UTC or the given time zone.", "timestamp('2024-01-02T03:04:05Z').getFullYear()", "2024"),
    f(STD, "getMonth", "timestamp.getMonth([string]) -> int", "The month, 0-based.", "timestamp('2024-01-02T03:04:05Z').getMonth()", "0"),
    f(STD, "getDate", "timestamp.getDate([string]) -> int", "The day of the month, 1-based.", "timestamp('2024-01-02T03:04:05Z').getDate()", "2"),
    f(STD, "getDayOfMonth", "timestamp.getDayOfMonth([string]) -> int", "The day of the month, 0-based.", "timestamp('2024-01-02T03:04:05Z').getDayOfMonth()", "1"),
    f(STD, "getDayOfWeek", "timestamp.getDayOfWeek([string]) -> int", "The day of the week, 0 for Sunday.", "timestamp('2024-01-02T03:04:05Z').getDayOfWeek()", "2"),
    f(STD, "getDayOfYear", "timestamp.getDayOfYear([string]) -> int", "The day of the year, 0-based.", "timestamp('2024-01-02T03:04:05Z').getDayOfYear()", "1"),
    f(STD, "getHours", "timestamp.getHours([string]) / duration.getHours() -> int", "Hours of a timestamp, or a duration in hours.", "timestamp('2024-01-02T03:04:05Z').getHours()", "3"),
    f(STD, "getMinutes", "timestamp.getMinutes([string]) / duration.getMinutes() -> int", "Minutes of a timestamp, or a duration in minutes.", "duration('1h30m').getMinutes()", "90"),
    f(STD, "getSeconds", "timestamp.getSeconds([string]) / duration.getSeconds() -> int", "Seconds of a timestamp, or a duration in seconds.", "timestamp('2024-01-02T03:04:05Z').getSeconds()", "5"),
    f(STD, "getMilliseconds", "timestamp.getMilliseconds([string]) / duration.getMilliseconds() -> int", "Milliseconds of a timestamp or a duration.", "timestamp('2024-01-02T03:04:05.123Z').getMilliseconds()", "123"),
    f(STD, "has", "has(e.f) -> bool (macro)", "Whether a field or map key is present.", "has({'a': 1}.a)", "true"),
    f(STD, "all", "list.all(x, p) / map.all(k, p) -> bool (macro)", "Whether the predicate holds for every element (every key of a map).", "[1, 2].all(x, x > 0)", "true"),
    f(STD, "exists", "list.exists(x, p) / map.exists(k, p) -> bool (macro)", "Whether the predicate holds for some element.", "[1, 2].exists(x, x > 1)", "true"),
    f(STD, "exists_one", "list.exists_one(x, p) -> bool (macro)", "Whether the predicate holds for exactly one element.", "[1, 2].exists_one(x, x > 1)", "true"),
    f(STD, "map", "list.map(x, [filter,] e) -> list (macro)", "The elements transformed, optionally only those the filter keeps.", "[1, 2, 3].map(x, x > 1, x * 10)", "[20, 30]"),
    f(STD, "filter", "list.filter(x, p) -> list (macro)", "The elements for which the predicate holds.", "[1, 2, 3].filter(x, x != 2)", "[1, 3]"),
    // optional
    f(OPT, "optional.of", "optional.of(any) -> optional", "An optional holding the value.", "optional.of(1).value()", "1"),
    f(OPT, "optional.none", "optional.none() -> optional", "An empty optional.", "optional.none().hasValue()", "false"),
    f(OPT, "optional.ofNonZeroValue", "optional.ofNonZeroValue(any) -> optional", "Empty for a zero value ('', 0, [], {}...), else holds the value.", "optional.ofNonZeroValue('').hasValue()", "false"),
    f(OPT, "hasValue", "optional.hasValue() -> bool", "Whether the optional holds a value.", "{'a': 1}.?a.hasValue()", "true"),
    f(OPT, "value", "optional.value() -> any", "The value held; an error when empty.", "optional.none().value()", "error"),
    f(OPT, "orValue", "optional.orValue(any) -> any", "The value held, or the default.", "{'a': 1}.?b.orValue(0)", "0"),
    f(OPT, "or", "optional.or(optional) -> optional", "This optional if it holds a value, else the other.", "optional.none().or(optional.of(2)).value()", "2"),
    f(OPT, "optMap", "optional.optMap(x, e) -> optional (macro)", "The value transformed, if there is one.", "optional.of(1).optMap(x, x + 1).value()", "2"),
    f(OPT, "optFlatMap", "optional.optFlatMap(x, e) -> optional (macro)", "As optMap, with e itself an optional.", "optional.of(1).optFlatMap(x, optional.none()).hasValue()", "false"),
    f(OPT_LISTS, "first", "list.first() -> optional", "The first element, or an empty optional for an empty list.", "[1, 2].first().value()", "1"),
    f(OPT_LISTS, "last", "list.last() -> optional", "The last element, or an empty optional for an empty list.", "[].last().hasValue()", "false"),
    f(OPT_LISTS, "optional.unwrap", "optional.unwrap(list(optional)) -> list", "The values of the optionals that hold one, in order.", "optional.unwrap([optional.of(1), optional.none(), optional.of(3)])", "[1, 3]"),
    f(OPT_LISTS, "unwrapOpt", "list(optional).unwrapOpt() -> list", "As optional.unwrap.", "[optional.none(), optional.of('a')].unwrapOpt()", "['a']"),
    // strings
    f(STRINGS, "charAt", "string.charAt(int) -> string", "The code point at an index ('' at the end).", "'hello'.charAt(4)", "'o'"),
    f(STRINGS, "indexOf", "string.indexOf(string[, int]) -> int", "First index of a substring, from an optional offset; -1 if absent.", "'hello mellow'.indexOf('ello', 6)", "7"),
    f(STRINGS, "lastIndexOf", "string.lastIndexOf(string[, int]) -> int", "Last index of a substring, up to an optional offset; -1 if absent.", "'hello mellow'.lastIndexOf('ello')", "7"),
    f(STRINGS, "lowerAscii", "string.lowerAscii() -> string", "ASCII letters lowercased.", "'TacoCat'.lowerAscii()", "'tacocat'"),
    f(STRINGS, "upperAscii", "string.upperAscii() -> string", "ASCII letters uppercased.", "'TacoCat'.upperAscii()", "'TACOCAT'"),
    f(STRINGS, "replace", "string.replace(string, string[, int]) -> string", "Occurrences replaced, all or the first n.", "'hello hello'.replace('he', 'we', 1)", "'wello hello'"),
    f(STRINGS, "split", "string.split(string[, int]) -> list(string)", "Parts around a separator, at most n when given.", "'a,b,c'.split(',', 2)", "['a', 'b,c']"),
    f(STRINGS, "substring", "string.substring(int[, int]) -> string", "The code points from start to end (exclusive).", "'tacocat'.substring(0, 4)", "'taco'"),
    f(STRINGS, "trim", "string.trim() -> string", "Leading and trailing whitespace removed.", "'  x \\n'.trim()", "'x'"),
    f(STRINGS, "join", "list(string).join([string]) -> string", "The strings concatenated, with an optional separator.", "['a', 'b'].join('-')", "'a-b'"),
    f(STRINGS, "format", "string.format(list) -> string", "printf-style formatting: %s %d %f %e %x %o %b.", "'%s has %d items'.format(['cart', 3])", "'cart has 3 items'"),
    f(STRINGS, "strings.quote", "strings.quote(string) -> string", "The string quoted and escaped as a CEL literal.", "strings.quote('a\"b')", "'\"a\\\\\"b\"'"),
    f(STRINGS, "reverse", "string.reverse() / list.reverse()", "The code points, or elements, in reverse order.", "'gums'.reverse()", "'smug'"),
    // ext lists
    f(EXT_LISTS, "slice", "list.slice(int, int) -> list", "The elements from start to end (exclusive).", "[1, 2, 3, 4].slice(1, 3)", "[2, 3]"),
    f(EXT_LISTS, "flatten", "list.flatten([int]) -> list", "Nested lists spliced in, one level or the given depth.", "[1, [2, [3]]].flatten(2)", "[1, 2, 3]"),
    f(EXT_LISTS, "distinct", "list.distinct() -> list", "The first of each set of equal elements.", "[1, 2, 2, 1].distinct()", "[1, 2]"),
    f(EXT_LISTS, "sort", "list.sort() -> list", "The elements in ascending order (one comparable type).", "[3, 1, 2].sort()", "[1, 2, 3]"),
    f(EXT_LISTS, "sortBy", "list.sortBy(x, key) -> list (macro)", "The elements ordered by a key expression.", "[{'n': 2}, {'n': 1}].sortBy(e, e.n)[0].n", "1"),
    f(EXT_LISTS, "lists.range", "lists.range(int) -> list(int)", "The integers from 0 to n (exclusive).", "lists.range(3)", "[0, 1, 2]"),
    // Kubernetes lists
    f(K8S_LISTS, "isSorted", "list.isSorted() -> bool", "Whether the elements are in ascending order.", "['a', 'b', 'b', 'c'].isSorted()", "true"),
    f(K8S_LISTS, "sum", "list.sum() -> int|uint|double|duration", "The sum of the elements; 0 for an empty list.", "[1, 3].sum()", "4"),
    f(K8S_LISTS, "min", "list.min() -> element", "The least element; an error for an empty list.", "[3, 1, 2].min()", "1"),
    f(K8S_LISTS, "max", "list.max() -> element", "The greatest element; an error for an empty list.", "[].max()", "error"),
    f(K8S_LISTS, "includes", "list.includes(any) -> bool", "Whether an element equals the value (numbers across types); a receiver that is not a list: whether it equals the value.", "[1, 2, 3].includes(2.0)", "true"),
    f(K8S_LISTS, "indexOf", "list.indexOf(any) -> int", "Index of the first equal element, or -1.", "[1, 2, 2, 3].indexOf(2)", "1"),
    f(K8S_LISTS, "lastIndexOf", "list.lastIndexOf(any) -> int", "Index of the last equal element, or -1.", "['a', 'b', 'b', 'c'].lastIndexOf('b')", "2"),
    // sets
    f(SETS, "sets.contains", "sets.contains(list, list) -> bool", "Whether the first list holds every element of the second.", "sets.contains([1, 2, 3], [2, 3.0])", "true"),
    f(SETS, "sets.equivalent", "sets.equivalent(list, list) -> bool", "Whether the lists hold the same elements, ignoring order and repeats.", "sets.equivalent([1, 2], [2, 1, 1])", "true"),
    f(SETS, "sets.intersects", "sets.intersects(list, list) -> bool", "Whether the lists share an element.", "sets.intersects([1, 2], [3])", "false"),
    // regex
    f(REGEX, "find", "string.find(string) -> string", "The first match of a regular expression, or ''.", "'abc 123'.find('[0-9]+')", "'123'"),
    f(REGEX, "findAll", "string.findAll(string[, int]) -> list(string)", "All matches, or the first n.", "'123 abc 456'.findAll('[0-9]+')", "['123', '456']"),
    // url
    f(URL, "url", "url(string) -> kubernetes.URL", "A URL: an absolute URI or an absolute path, as Go's ParseRequestURI accepts.", "url('../relative')", "error"),
    f(URL, "isURL", "isURL(string) -> bool", "Whether url() accepts the string.", "isURL('https://example.com/path')", "true"),
    f(URL, "getScheme", "URL.getScheme() -> string", "The scheme, or ''.", "url('https://example.com/').getScheme()", "'https'"),
    f(URL, "getHost", "URL.getHost() -> string", "Host and port, IPv6 in brackets, or ''.", "url('https://[::1]:80/').getHost()", "'[::1]:80'"),
    f(URL, "getHostname", "URL.getHostname() -> string", "The host without port or brackets, or ''.", "url('https://[::1]:80/').getHostname()", "'::1'"),
    f(URL, "getPort", "URL.getPort() -> string", "The port, or ''.", "url('https://example.com:80/').getPort()", "'80'"),
    f(URL, "getEscapedPath", "URL.getEscapedPath() -> string", "The path, URL-escaped.", "url('https://example.com/path with spaces/').getEscapedPath()", "'/path%20with%20spaces/'"),
    f(URL, "getQuery", "URL.getQuery() -> map(string, list(string))", "The query parameters, unescaped, repeated keys as several values.", "url('https://example.com/p?k=a&k=b').getQuery()", "{'k': ['a', 'b']}"),
    // quantity
    f(QUANTITY, "quantity", "quantity(string) -> kubernetes.Quantity", "A resource quantity (100m, 1.5Gi, 1e3).", "quantity('200M') == quantity('0.2G')", "true"),
    f(QUANTITY, "isQuantity", "isQuantity(string) -> bool", "Whether quantity() accepts the string.", "isQuantity('200K')", "false"),
    f(QUANTITY, "compareTo", "Quantity.compareTo(Quantity) / Semver.compareTo(Semver) -> int", "-1, 0 or 1 as the value is less, equal or greater.", "quantity('50M').compareTo(quantity('50Mi'))", "-1"),
    f(QUANTITY, "isLessThan", "Quantity.isLessThan(Quantity) / Semver.isLessThan(Semver) -> bool", "Whether the value is less than the other.", "quantity('50M').isLessThan(quantity('100M'))", "true"),
    f(QUANTITY, "isGreaterThan", "Quantity.isGreaterThan(Quantity) / Semver.isGreaterThan(Semver) -> bool", "Whether the value is greater than the other.", "quantity('150Mi').isGreaterThan(quantity('100Mi'))", "true"),
    f(QUANTITY, "add", "Quantity.add(Quantity|int) -> Quantity", "The sum.", "quantity('50k').add(20) == quantity('50020')", "true"),
    f(QUANTITY, "sub", "Quantity.sub(Quantity|int) -> Quantity", "The difference.", "quantity('50k').sub(quantity('20')) == quantity('49.98k')", "true"),
    f(QUANTITY, "asInteger", "Quantity.asInteger() -> int", "The value as an int; an error where isInteger() is false.", "quantity('50k').asInteger()", "50000"),
    f(QUANTITY, "isInteger", "Quantity.isInteger() -> bool", "Whether asInteger() succeeds (false for fractions and for values written with a fraction or a sub-unit suffix, as in Kubernetes).", "quantity('9999999999999999999999999999999999999G').isInteger()", "false"),
    f(QUANTITY, "asApproximateFloat", "Quantity.asApproximateFloat() -> double", "The value as a double, possibly rounded.", "quantity('50.703k').asApproximateFloat()", "50703.0"),
    f(QUANTITY, "sign", "sign(Quantity) -> int", "-1, 0 or 1 by the sign of the value (Kubernetes has no receiver form, q.sign()).", "sign(quantity('-1'))", "-1"),
    // ip
    f(IP, "ip", "ip(string) -> net.IP", "An IPv4 or IPv6 address (no zone, no IPv4-mapped IPv6, no leading zeros).", "ip('::ffff:1.2.3.4')", "error"),
    f(IP, "isIP", "isIP(string) -> bool", "Whether ip() accepts the string.", "isIP('127.0.0.1')", "true"),
    f(IP, "ip.isCanonical", "ip.isCanonical(string) -> bool", "Whether the address is written in its canonical form.", "ip.isCanonical('2001:DB8::ABCD')", "false"),
    f(IP, "family", "IP.family() -> int", "4 or 6.", "ip('::1').family()", "6"),
    f(IP, "isUnspecified", "IP.isUnspecified() -> bool", "Whether the address is 0.0.0.0 or ::.", "ip('0.0.0.0').isUnspecified()", "true"),
    f(IP, "isLoopback", "IP.isLoopback() -> bool", "Whether the address is in 127.0.0.0/8 or is ::1.", "ip('127.0.0.1').isLoopback()", "true"),
    f(IP, "isLinkLocalMulticast", "IP.isLinkLocalMulticast() -> bool", "Whether the address is in 224.0.0.0/24 or ff02::/16.", "ip('ff02::1').isLinkLocalMulticast()", "true"),
    f(IP, "isLinkLocalUnicast", "IP.isLinkLocalUnicast() -> bool", "Whether the address is in 169.254.0.0/16 or fe80::/10.", "ip('169.254.169.254').isLinkLocalUnicast()", "true"),
    f(IP, "isGlobalUnicast", "IP.isGlobalUnicast() -> bool", "Whether the address is none of unspecified, broadcast, loopback, multicast, link-local.", "ip('192.168.0.1').isGlobalUnicast()", "true"),
    // cidr
    f(CIDR, "cidr", "cidr(string) -> net.CIDR", "An address with a prefix length.", "cidr('192.168.0.0/33')", "error"),
    f(CIDR, "isCIDR", "isCIDR(string) -> bool", "Whether cidr() accepts the string.", "isCIDR('::1/128')", "true"),
    f(CIDR, "containsIP", "CIDR.containsIP(net.IP|string) -> bool", "Whether the range holds the address.", "cidr('192.168.0.0/24').containsIP('192.168.0.1')", "true"),
    f(CIDR, "containsCIDR", "CIDR.containsCIDR(net.CIDR|string) -> bool", "Whether the range holds the other range.", "cidr('192.168.0.0/16').containsCIDR('192.168.10.0/24')", "true"),
    f(CIDR, "ip", "CIDR.ip() -> net.IP", "The address, as written.", "cidr('192.168.0.1/24').ip() == ip('192.168.0.1')", "true"),
    f(CIDR, "masked", "CIDR.masked() -> net.CIDR", "The range with the bits past the prefix cleared.", "string(cidr('192.168.0.1/24').masked())", "'192.168.0.0/24'"),
    f(CIDR, "prefixLength", "CIDR.prefixLength() -> int", "The prefix length in bits.", "cidr('192.168.0.0/16').prefixLength()", "16"),
    // semver
    f(SEMVER, "semver", "semver(string[, bool]) -> kubernetes.Semver", "A semantic version; with true, normalized first (v prefix, missing parts, leading zeros).", "semver('v1.0', true) == semver('1.0.0')", "true"),
    f(SEMVER, "isSemver", "isSemver(string[, bool]) -> bool", "Whether semver() accepts the string.", "isSemver('v1.0')", "false"),
    f(SEMVER, "major", "Semver.major() -> int", "The major version.", "semver('1.2.3').major()", "1"),
    f(SEMVER, "minor", "Semver.minor() -> int", "The minor version.", "semver('1.2.3').minor()", "2"),
    f(SEMVER, "patch", "Semver.patch() -> int", "The patch version.", "semver('1.2.3').patch()", "3"),
    // math
    f(MATH, "math.greatest", "math.greatest(number, ...) / math.greatest(list) -> number", "The greatest of the numbers.", "math.greatest(1, 5, 3)", "5"),
    f(MATH, "math.least", "math.least(number, ...) / math.least(list) -> number", "The least of the numbers.", "math.least([3.0, 2.0])", "2.0"),
    f(MATH, "math.abs", "math.abs(number) -> number", "The absolute value.", "math.abs(-2)", "2"),
    f(MATH, "math.ceil", "math.ceil(double) -> double", "Rounded up.", "math.ceil(1.2)", "2.0"),
    f(MATH, "math.floor", "math.floor(double) -> double", "Rounded down.", "math.floor(1.8)", "1.0"),
    f(MATH, "math.round", "math.round(double) -> double", "Rounded half away from zero.", "math.round(2.5)", "3.0"),
    f(MATH, "math.trunc", "math.trunc(double) -> double", "The integer part.", "math.trunc(-1.5)", "-1.0"),
    f(MATH, "math.sign", "math.sign(number) -> number", "-1, 0 or 1 of the number's type.", "math.sign(-5)", "-1"),
    f(MATH, "math.sqrt", "math.sqrt(number) -> double", "The square root.", "math.sqrt(16)", "4.0"),
    f(MATH, "math.isFinite", "math.isFinite(double) -> bool", "Whether the double is neither infinite nor NaN.", "math.isFinite(1.0)", "true"),
    f(MATH, "math.isInf", "math.isInf(double) -> bool", "Whether the double is infinite.", "math.isInf(1.0 / 0.0)", "true"),
    f(MATH, "math.isNaN", "math.isNaN(double) -> bool", "Whether the double is NaN.", "math.isNaN(0.0 / 0.0)", "true"),
    f(MATH, "math.bitAnd", "math.bitAnd(int, int) -> int (and uint)", "Bitwise and.", "math.bitAnd(6, 3)", "2"),
    f(MATH, "math.bitOr", "math.bitOr(int, int) -> int (and uint)", "Bitwise or.", "math.bitOr(1, 2)", "3"),
    f(MATH, "math.bitXor", "math.bitXor(int, int) -> int (and uint)", "Bitwise exclusive or.", "math.bitXor(3, 1)", "2"),
    f(MATH, "math.bitNot", "math.bitNot(int) -> int (and uint)", "Bitwise complement.", "math.bitNot(0)", "-1"),
    f(MATH, "math.bitShiftLeft", "math.bitShiftLeft(int, int) -> int (and uint)", "Shift left.", "math.bitShiftLeft(1, 3)", "8"),
    f(MATH, "math.bitShiftRight", "math.bitShiftRight(int, int) -> int (and uint)", "Logical shift right.", "math.bitShiftRight(8, 3)", "1"),
    // encoders
    f(ENCODERS, "base64.encode", "base64.encode(bytes) -> string", "Standard base64 of the bytes.", "base64.encode(b'hello')", "'aGVsbG8='"),
    f(ENCODERS, "base64.decode", "base64.decode(string) -> bytes", "The bytes of standard base64, padded or not.", "base64.decode('aGVsbG8')", "b'hello'"),
    // bindings and two-variable comprehensions
    f(BIND, "cel.bind", "cel.bind(name, value, expr) (macro)", "expr with name bound to value, computed once.", "cel.bind(x, 2, x * x)", "4"),
    f(BIND, "all", "list.all(i, v, p) / map.all(k, v, p) -> bool (macro)", "Whether the predicate holds for every index and element, or key and value.", "[1, 2].all(i, v, i < v)", "true"),
    f(BIND, "exists", "list.exists(i, v, p) / map.exists(k, v, p) -> bool (macro)", "Whether the predicate holds for some pair.", "{'a': 1}.exists(k, v, k == 'a' && v == 1)", "true"),
    f(BIND, "existsOne", "list.existsOne(i, v, p) / map.existsOne(k, v, p) -> bool (macro)", "Whether the predicate holds for exactly one pair (also exists_one).", "[1, 2, 3].existsOne(i, v, i == 1 && v == 2)", "true"),
    f(BIND, "transformList", "list.transformList(i, v, [filter,] e) / map.transformList(k, v, [filter,] e) -> list (macro)", "e for each pair the filter keeps.", "[1, 2, 3].transformList(i, v, i > 0, v * 2)", "[4, 6]"),
    f(BIND, "transformMap", "list.transformMap(i, v, [filter,] e) / map.transformMap(k, v, [filter,] e) -> map (macro)", "The same keys (indexes for a list), each mapped to e.", "{'a': 1, 'b': 2}.transformMap(k, v, v * 10)", "{'a': 10, 'b': 20}"),
    f(BIND, "transformMapEntry", "list.transformMapEntry(i, v, [filter,] e) / map.transformMapEntry(k, v, [filter,] e) -> map (macro)", "The union of the one-entry maps e makes; a repeated key is an error.", "{'a': 'x'}.transformMapEntry(k, v, {v: k})", "{'x': 'a'}"),
    // format
    f(FORMAT, "format.named", "format.named(string) -> optional(kubernetes.NamedFormat)", "The format of that name, if there is one.", "format.named('dns1123Label').hasValue()", "true"),
    f(FORMAT, "validate", "NamedFormat.validate(string) -> optional(list(string))", "optional.none() for a valid string, else Kubernetes' error messages.", "format.dns1123Label().validate('a.b').value()", "['must not contain dots']"),
    f(FORMAT, "format.dns1123Label", "format.dns1123Label() -> NamedFormat", "A lowercase RFC 1123 label (63 characters at most).", "format.dns1123Label().validate('my-name').hasValue()", "false"),
    f(FORMAT, "format.dns1123Subdomain", "format.dns1123Subdomain() -> NamedFormat", "A lowercase RFC 1123 subdomain (253 characters at most).", "format.dns1123Subdomain().validate('apiextensions.k8s.io').hasValue()", "false"),
    f(FORMAT, "format.dns1035Label", "format.dns1035Label() -> NamedFormat", "A DNS-1035 label: starts with a letter.", "format.dns1035Label().validate('1abc').hasValue()", "true"),
    f(FORMAT, "format.qualifiedName", "format.qualifiedName() -> NamedFormat", "A qualified name with an optional DNS subdomain prefix.", "format.qualifiedName().validate('apiextensions.k8s.io/v1beta1').hasValue()", "false"),
    f(FORMAT, "format.dns1123LabelPrefix", "format.dns1123LabelPrefix() -> NamedFormat", "A dns1123Label that may end with a dash (a generateName).", "format.dns1123LabelPrefix().validate('my-label-prefix-').hasValue()", "false"),
    f(FORMAT, "format.dns1123SubdomainPrefix", "format.dns1123SubdomainPrefix() -> NamedFormat", "A dns1123Subdomain that may end with a dash.", "format.dns1123SubdomainPrefix().validate('mysubdomain.prefix.-').hasValue()", "false"),
    f(FORMAT, "format.dns1035LabelPrefix", "format.dns1035LabelPrefix() -> NamedFormat", "A dns1035Label that may end with a dash.", "format.dns1035LabelPrefix().validate('my-label-prefix-').hasValue()", "false"),
    f(FORMAT, "format.labelValue", "format.labelValue() -> NamedFormat", "A label value: empty, or alphanumerics, '-', '_', '.'.", "format.labelValue().validate('my_value').hasValue()", "false"),
    f(FORMAT, "format.uri", "format.uri() -> NamedFormat", "What url() accepts.", "format.uri().validate('http://example.com').hasValue()", "false"),
    f(FORMAT, "format.uuid", "format.uuid() -> NamedFormat", "A UUID, dashed or not.", "format.uuid().validate('123e4567-e89b-12d3-a456-426614174000').hasValue()", "false"),
    f(FORMAT, "format.byte", "format.byte() -> NamedFormat", "Padded standard base64.", "format.byte().validate('aGVsbG8=').hasValue()", "false"),
    f(FORMAT, "format.date", "format.date() -> NamedFormat", "A full date, 2006-01-02.", "format.date().validate('2021-02-30').value()", "['invalid date']"),
    f(FORMAT, "format.datetime", "format.datetime() -> NamedFormat", "An RFC 3339 date-time.", "format.datetime().validate('2021-01-01T00:00:00Z').hasValue()", "false"),
    // kms (opt-in: the policy annotation cmek-gate.dev/cel-extensions: "kms"; live mode)
    f(KMS, "kms.available", "kms.available() -> bool", "Whether live data is read (the gate runs with --live): false otherwise, and the other kms functions then fail.", "kms.available()", "false"),
    f(KMS, "kms.key", "kms.key(string) -> kms.Key", "The Cloud KMS key named projects/P/locations/L/keyRings/R/cryptoKeys/K: fields name, exists, project, location, keyRing, purpose (ENCRYPT_DECRYPT...), state (the primary version's: ENABLED, DISABLED, DESTROYED, DESTROY_SCHEDULED...; '' without one), protectionLevel, rotationPeriod (a duration, null when it does not rotate), nextRotationTime (a timestamp or null). A key that does not exist has exists false and empty fields; an unreadable one is an error starting 'live data unavailable'.", "kms.key('projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k').state", "error"),
    f(KMS, "kms.projectNumber", "kms.projectNumber(string) -> string", "The number of a project (an ID or a number); '' when it does not exist.", "kms.projectNumber('my-project')", "error"),
    f(KMS, "kms.serviceAgentCanUse", "kms.serviceAgentCanUse(string, string) -> bool", "Whether the Cloud Run service agent of the project (an ID or a number) may use the key: roles/cloudkms.cryptoKeyEncrypterDecrypter (or Encrypter plus Decrypter) on the key, its key ring or its project, without a condition. False when the key or the project does not exist.", "kms.serviceAgentCanUse('projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k', 'my-project')", "error"),
    f(KMS, "kms.imageRepository", "kms.imageRepository(string) -> kms.Repository", "The Artifact Registry repository of an image (LOCATION-docker.pkg.dev/PROJECT/REPOSITORY/...): fields artifactRegistry (false for another registry, answered without live data), name, exists, cmek, kmsKeyName.", "kms.imageRepository('europe-west1-docker.pkg.dev/p/images/app:1').cmek", "error"),
    // jsonpatch
    f(JSONPATCH, "jsonpatch.escapeKey", "jsonpatch.escapeKey(string) -> string", "A key escaped for a JSON Patch path (~ as ~0, / as ~1); in a MutatingAdmissionPolicy's mutations only, as in Kubernetes.", "jsonpatch.escapeKey('k8s.io/my~label')", "'k8s.io~1my~0label'"),
];

#[cfg(test)]
/// What the gate does not provide, for the reference's last section.
const NOT_SUPPORTED: &[(&str, &str)] = &[
    ("authorizer, authorizer.group(...).resource(...).check(...), fieldSelector, labelSelector", "Not supported: the gate has no API server to ask; a compile error says so."),
    ("Quantity.mul, Quantity.div, Quantity.divInt", "Not supported: in no Kubernetes release up to 1.37 (unknown function)."),
    ("math.*, base64.encode, base64.decode, cel.bind, string.reverse()", "Extensions: in no Kubernetes release's admission environment, so offered only to a policy that asks for them (annotation cmek-gate.dev/cel-extensions: \"math,encoders,bind,strings\", or --cel-extensions); the API server refuses such a policy (see docs/kubernetes-versions.md)."),
    ("Kubernetes versions", "What a release lacks is refused: --kubernetes-version (1.30 to 1.37, default 1.37) selects the release whose functions and macros a policy may use; the function's row in docs/kubernetes-versions.md says which release added it."),
    ("list.existsOne(x, p), with one variable", "Refused, as the API server refuses it (undeclared reference to 'existsOne'): Kubernetes' parser leaves it a call. Write exists_one(x, p); existsOne with two variables is the two-variable comprehension (1.32)."),
    ("Type checking", "As the API server when a policy is created: a type error (a wrong argument type, a mixed list literal, a result of the wrong type for its field) refuses the policy at load, at its line and column. Mistakes found only against the resources' schemas are warnings, as Kubernetes reports them in status.typeChecking (see docs/lint.md). At run time a call the checker resolved to one overload takes only that overload's argument types, as in the API server: string(x), where x was inferred a string, fails on a bool. eval -e is not type-checked."),
    ("quantity('Mi'), quantity('+')", "Refused, as Kubernetes documents: a quantity needs a digit or a dot (the scanner of some apimachinery versions reads these as 0)."),
    ("quantity('1e1000000000').add(quantity('1m'))", "Difference: a quantity whose exact decimal form needs more than 1024 digits is an evaluation error rather than a huge number."),
    ("kms.*", "cmek-gate's own extension, in no Kubernetes release: offered only to a policy that asks for it (annotation cmek-gate.dev/cel-extensions: \"kms\", or --cel-extensions kms; elsewhere a compile error saying how to ask), as the other extensions; answered from Google only in live mode (check, serve and scan --live), so every example above but kms.available() fails here (see docs/live-checks.md)."),
    ("google.protobuf.Duration{...}, Timestamp{...}, Int64Value{...} and the other wrappers", "Built as Kubernetes builds them (a wrapper is its value). google.protobuf.Struct, Value, ListValue, Empty and Any literals are refused (write a map or list literal), and a Timestamp message outside years 1 to 9999 is an evaluation error (see docs/cel-differential.md)."),
    ("Error messages", "Difference: evaluation errors name functions and types, never the input (it may be a secret)."),
    ("Everything else", "Compared with Kubernetes 1.37's own CEL on a corpus of 14,000 expressions (docs/cel-differential.md), which lists every remaining difference and its reason."),
];

/// The reference, as markdown.
#[cfg(test)]
pub(crate) fn markdown() -> String {
    let mut out = String::from(
        "# CEL functions\n\n\
         <!-- Generated from crates/cel-k8s/src/docs.rs (LIBRARY): do not edit by hand. Regenerate with\n\
         `UPDATE_DOCS=1 cargo test --lib cel_functions_doc_is_current`. -->\n\n\
         The functions a policy expression may call, with Kubernetes semantics. Every example is \
         evaluated by the test suite and gives the result shown. A name not listed here (or an \
         operator) is refused when the policy is loaded.\n",
    );
    let mut library = "";
    for doc in LIBRARY {
        if doc.library != library {
            library = doc.library;
            out.push_str(&format!(
                "\n## {library}\n\n| Function | Signature | Description | Example | Result |\n| --- | --- | --- | --- | --- |\n"
            ));
        }
        out.push_str(&format!(
            "| `{}` | `{}` | {} | `{}` | `{}` |\n",
            doc.name,
            cell(doc.signature),
            cell(doc.description),
            cell(doc.example),
            cell(doc.result)
        ));
    }
    out.push_str(
        "\n## Not supported, and differences from Kubernetes\n\n| What | Why |\n| --- | --- |\n",
    );
    for (what, why) in NOT_SUPPORTED {
        out.push_str(&format!("| {} | {} |\n", cell(what), cell(why)));
    }
    out
}

#[cfg(test)]
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Activation, CompileOptions, Environment};

    const DOC_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/cel-functions.md");

    #[test]
    fn cel_functions_doc_is_current() {
        let expected = markdown();
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(DOC_PATH, &expected).expect("write docs/cel-functions.md");
            return;
        }
        let actual = std::fs::read_to_string(DOC_PATH).unwrap_or_default();
        assert!(
            actual == expected,
            "docs/cel-functions.md is stale: regenerate it with \
             `UPDATE_DOCS=1 cargo test --lib cel_functions_doc_is_current`"
        );
    }

    #[test]
    fn every_documented_example_gives_its_result() {
        let env = Environment::new();
        // The kms extension's examples compile where a policy enables it.
        let kms = crate::check::Declarations::admission(crate::Type::Dyn, None).extended();
        let options = CompileOptions::default();
        let compile = |doc: &FunctionDoc, source: &str| {
            if doc.library == KMS {
                env.compile_checked(source, &options, &kms)
                    .map(|(program, _)| program)
                    .map_err(|errors| format!("{errors:?}"))
            } else {
                env.compile(source, &options).map_err(|e| e.to_string())
            }
        };
        let mut failed = Vec::new();
        for doc in LIBRARY {
            let outcome = if doc.result == "error" {
                compile(doc, doc.example)
                    .map_err(|e| format!("compile: {e}"))
                    .and_then(|p| match env.evaluate(&p, &Activation::new()) {
                        Err(_) => Ok(true),
                        Ok(v) => Err(format!("expected an error, got {v:?}")),
                    })
            } else {
                let source = format!("({}) == ({})", doc.example, doc.result);
                crate::probes::truth(&env, compile(doc, &source))
            };
            if outcome != Ok(true) {
                failed.push(format!("{}: {} => {outcome:?}", doc.name, doc.example));
            }
        }
        assert!(failed.is_empty(), "{failed:#?}");
    }

    #[test]
    fn documented_names_are_unique_per_library() {
        let mut seen = std::collections::HashSet::new();
        for doc in LIBRARY {
            assert!(
                seen.insert((doc.library, doc.name)),
                "{} twice in {}",
                doc.name,
                doc.library
            );
        }
    }
}
