//! Kubernetes-documented CEL examples, compiled and evaluated through [`Environment`]: the
//! measure of how much of Kubernetes' CEL the gate speaks (kept from the differential against
//! the `cel` crate's interpreter, as plain golden cases). Each probe must evaluate to `true`;
//! each error probe must compile and then fail at run time.
//!
//! Sources: the "CEL in Kubernetes" reference page, the doc comments and tests of
//! k8s.io/apiserver/pkg/cel/library, and cel-go's `ext` libraries that Kubernetes enables.

use crate::value::Value;
use crate::{Activation, CompileOptions, Environment, Program};

/// Expressions that evaluate to `true`, by library.
const PROBES: &[(&str, &str)] = &[
    // Kubernetes lists library
    ("lists", "[1, 2, 3].isSorted()"),
    ("lists", "['a', 'b', 'b', 'c'].isSorted()"),
    ("lists", "![2.0, 1.0].isSorted()"),
    ("lists", "[1].isSorted() && [].isSorted()"),
    ("lists", "[1, 3].sum() == 4"),
    ("lists", "[1.0, 3.0].sum() == 4.0"),
    ("lists", "[duration('1m'), duration('1s')].sum() == duration('1m1s')"),
    ("lists", "[].sum() == 0"),
    ("lists", "[1, 3].min() == 1 && [1, 3].max() == 3"),
    ("lists", "([0] + []).min() == 0"),
    ("lists", "[1, 2, 2, 3].indexOf(2) == 1"),
    ("lists", "['a', 'b', 'b', 'c'].lastIndexOf('b') == 2"),
    ("lists", "[1.0].indexOf(1.1) == -1 && [].indexOf('string') == -1"),
    ("lists", "[{'w': 0.5}, {'w': 0.5}].map(x, x.w).sum() == 1.0"),
    ("lists", "[{'p': 1}].map(x, x.p).max() < [{'p': 2}].map(x, x.p).min()"),
    // cel-go ext lists
    ("ext lists", "[1, 2, 3, 4].slice(1, 3) == [2, 3]"),
    ("ext lists", "[[1], [2, 3]].flatten() == [1, 2, 3]"),
    ("ext lists", "[1, 2, 2, 1].distinct() == [1, 2]"),
    ("ext lists", "[3, 1, 2].sort() == [1, 2, 3]"),
    ("ext lists", "lists.range(3) == [0, 1, 2]"),
    ("ext lists", "[1, 2, 3].reverse() == [3, 2, 1]"),
    ("ext lists", "[{'n': 2}, {'n': 1}].sortBy(e, e.n)[0].n == 1"),
    // cel-go ext strings
    ("strings", "'hello'.charAt(4) == 'o'"),
    ("strings", "'hello mellow'.indexOf('ello') == 1"),
    ("strings", "'hello mellow'.indexOf('ello', 6) == 7"),
    ("strings", "'hello mellow'.lastIndexOf('ello') == 7"),
    ("strings", "'hello mellow'.lastIndexOf('ello', 6) == 1"),
    ("strings", "'TacoCat'.lowerAscii() == 'tacocat'"),
    ("strings", "'TacoCÆt Xii'.upperAscii() == 'TACOCÆT XII'"),
    ("strings", "'hello hello'.replace('he', 'we') == 'wello wello'"),
    ("strings", "'hello hello'.replace('he', 'we', 1) == 'wello hello'"),
    ("strings", "'hello hello hello'.split(' ') == ['hello', 'hello', 'hello']"),
    ("strings", "'hello hello hello'.split(' ', 2) == ['hello', 'hello hello']"),
    ("strings", "'tacocat'.substring(4) == 'cat' && 'tacocat'.substring(0, 4) == 'taco'"),
    ("strings", "'  \\ttrim\\n    '.trim() == 'trim'"),
    ("strings", "['hello', 'mellow'].join(' ') == 'hello mellow'"),
    ("strings", "'this is a string: %s'.format(['hello']) == 'this is a string: hello'"),
    ("strings", "'%d items, %.2f'.format([3, 3.14159]) == '3 items, 3.14'"),
    ("strings", "strings.quote('first\\nsecond') == '\"first\\\\nsecond\"'"),
    ("strings", "'gums'.reverse() == 'smug'"),
    // cel-go ext sets
    ("sets", "sets.contains([], []) && sets.contains([1, 2, 3, 4], [2, 3])"),
    ("sets", "!sets.contains([1, 2, 3], [4])"),
    ("sets", "sets.contains([1, 2.0, 3u], [1.0, 2u, 3])"),
    ("sets", "sets.equivalent([], []) && sets.equivalent([1], [1, 1])"),
    ("sets", "sets.equivalent([1, 2, 3], [3u, 2.0, 1])"),
    ("sets", "!sets.equivalent([1, 2], [2, 2, 2])"),
    ("sets", "sets.intersects([1], [1, 2])"),
    ("sets", "sets.intersects([[1], [2, 3]], [[1, 2], [2, 3.0]])"),
    ("sets", "!sets.intersects([1], [])"),
    // Kubernetes regex library
    ("regex", "'abc 123'.find('[0-9]+') == '123'"),
    ("regex", "'abc 123'.find('xyz') == ''"),
    ("regex", "'123 abc 456'.findAll('[0-9]+') == ['123', '456']"),
    ("regex", "'123 abc 456'.findAll('[0-9]+', 1) == ['123']"),
    ("regex", "'123 abc 456'.findAll('xyz') == []"),
    // Kubernetes URL library
    ("url", "isURL('https://user:pass@example.com:80/path?query=val#fragment')"),
    ("url", "isURL('/absolute-path')"),
    ("url", "!isURL('https://a:b:c/') && !isURL('../relative-path')"),
    ("url", "url('/path').getScheme() == ''"),
    ("url", "url('https://example.com/').getScheme() == 'https'"),
    ("url", "url('https://example.com:80/').getHost() == 'example.com:80'"),
    ("url", "url('https://example.com/').getHost() == 'example.com'"),
    ("url", "url('https://[::1]:80/').getHost() == '[::1]:80'"),
    ("url", "url('https://[::1]/').getHost() == '[::1]'"),
    ("url", "url('/path').getHost() == ''"),
    ("url", "url('https://example.com:80/').getHostname() == 'example.com'"),
    ("url", "url('https://127.0.0.1:80/').getHostname() == '127.0.0.1'"),
    ("url", "url('https://[::1]:80/').getHostname() == '::1'"),
    ("url", "url('/path').getHostname() == ''"),
    ("url", "url('https://example.com:80/').getPort() == '80'"),
    ("url", "url('https://example.com/').getPort() == '' && url('/path').getPort() == ''"),
    ("url", "url('https://example.com/path').getEscapedPath() == '/path'"),
    ("url", "url('https://example.com/path with spaces/').getEscapedPath() == '/path%20with%20spaces/'"),
    ("url", "url('https://example.com').getEscapedPath() == ''"),
    ("url", "url('https://example.com/path?k1=a&k2=b&k2=c').getQuery() == {'k1': ['a'], 'k2': ['b', 'c']}"),
    ("url", "url('https://example.com/path?key with spaces=value with spaces').getQuery() == {'key with spaces': ['value with spaces']}"),
    ("url", "url('https://example.com/path?').getQuery() == {} && url('https://example.com/path').getQuery() == {}"),
    ("url", "type(url('/p')) == kubernetes.URL"),
    // Kubernetes quantity library
    ("quantity", "isQuantity('1.3G') && isQuantity('1.3Gi') && isQuantity('10000k')"),
    ("quantity", "!isQuantity('1,3G') && !isQuantity('200K') && !isQuantity('Three') && !isQuantity('Mi')"),
    ("quantity", "isQuantity('20') && isQuantity('20M') && isQuantity('20Mi') && isQuantity('1e3')"),
    ("quantity", "!isQuantity('20Mo') && !isQuantity('10Mm')"),
    ("quantity", "quantity('200M') == quantity('200M')"),
    ("quantity", "quantity('200M') == quantity('0.2G') && quantity('0.2G') == quantity('200M')"),
    ("quantity", "quantity('2M') == quantity('0.002G') && quantity('2000k') == quantity('2M')"),
    ("quantity", "quantity('200M') != quantity('0.3G')"),
    ("quantity", "quantity('50M').isLessThan(quantity('50Mi'))"),
    ("quantity", "quantity('50M').isLessThan(quantity('100M'))"),
    ("quantity", "!quantity('100M').isLessThan(quantity('50M'))"),
    ("quantity", "quantity('50Mi').isGreaterThan(quantity('50M'))"),
    ("quantity", "quantity('150Mi').isGreaterThan(quantity('100Mi'))"),
    ("quantity", "!quantity('50M').isGreaterThan(quantity('100M'))"),
    ("quantity", "quantity('200M').compareTo(quantity('0.2G')) == 0"),
    ("quantity", "quantity('50M').compareTo(quantity('50Mi')) == -1"),
    ("quantity", "quantity('50Mi').compareTo(quantity('50M')) == 1"),
    ("quantity", "quantity('50k').add(quantity('20')) == quantity('50.02k')"),
    ("quantity", "!quantity('50k').add(20).isLessThan(quantity('50020'))"),
    ("quantity", "quantity('50k').add(20) == quantity('50020')"),
    ("quantity", "quantity('50k').sub(quantity('20')) == quantity('49.98k')"),
    ("quantity", "quantity('50k').sub(20) == quantity('49980')"),
    ("quantity", "quantity('50k').sub(20000) == quantity('30k')"),
    ("quantity", "quantity('50k').add(20).sub(quantity('100k')).asInteger() == -49980"),
    ("quantity", "quantity('50k').add(20).sub(quantity('100k')).sub(-50000).asInteger() == 20"),
    ("quantity", "quantity('50k').asInteger() == 50000"),
    ("quantity", "!quantity('9999999999999999999999999999999999999G').isInteger()"),
    ("quantity", "quantity('50').isInteger() && quantity('50000000G').isInteger()"),
    ("quantity", "quantity('50.703k').asApproximateFloat() == 50703.0"),
    ("quantity", "quantity('50k').sub(20000).asApproximateFloat() == 30000.0"),
    ("quantity", "quantity('-1').sign() == -1 && quantity('0').sign() == 0"),
    ("quantity", "type(quantity('1')) == kubernetes.Quantity"),
    // Kubernetes IP library
    ("ip", "isIP('127.0.0.1') && isIP('::1')"),
    ("ip", "!isIP('127.0.0.256') && !isIP(':::1')"),
    ("ip", "!isIP('::ffff:1.2.3.4') && !isIP('fe80::1%eth0') && !isIP('01.2.3.4')"),
    ("ip", "ip.isCanonical('127.0.0.1') && ip.isCanonical('2001:db8::abcd')"),
    ("ip", "!ip.isCanonical('2001:DB8::ABCD') && !ip.isCanonical('2001:db8::0:0:0:abcd')"),
    ("ip", "ip('127.0.0.1').family() == 4 && ip('::1').family() == 6"),
    ("ip", "ip('0.0.0.0').isUnspecified() && !ip('127.0.0.1').isUnspecified()"),
    ("ip", "ip('::').isUnspecified() && !ip('::1').isUnspecified()"),
    ("ip", "ip('127.0.0.1').isLoopback() && !ip('192.168.0.1').isLoopback()"),
    ("ip", "ip('::1').isLoopback() && !ip('2001:db8::abcd').isLoopback()"),
    ("ip", "ip('224.0.0.1').isLinkLocalMulticast() && !ip('224.0.1.1').isLinkLocalMulticast()"),
    ("ip", "ip('ff02::1').isLinkLocalMulticast() && !ip('fd00::1').isLinkLocalMulticast()"),
    ("ip", "ip('169.254.169.254').isLinkLocalUnicast() && !ip('192.168.0.1').isLinkLocalUnicast()"),
    ("ip", "ip('fe80::1').isLinkLocalUnicast() && !ip('fd80::1').isLinkLocalUnicast()"),
    ("ip", "ip('192.168.0.1').isGlobalUnicast() && !ip('255.255.255.255').isGlobalUnicast()"),
    ("ip", "ip('2001:db8::abcd').isGlobalUnicast() && !ip('ff00::1').isGlobalUnicast()"),
    ("ip", "string(ip('2001:DB8::1')) == '2001:db8::1'"),
    ("ip", "ip('1.2.3.4') == ip('1.2.3.4') && type(ip('1.2.3.4')) == net.IP"),
    // Kubernetes CIDR library
    ("cidr", "isCIDR('192.168.0.0/16') && isCIDR('::1/128')"),
    ("cidr", "!isCIDR('192.168.0.0/33') && !isCIDR('::1/129')"),
    ("cidr", "cidr('192.168.0.0/24').containsIP(ip('192.168.0.1'))"),
    ("cidr", "!cidr('192.168.0.0/24').containsIP(ip('192.168.1.1'))"),
    ("cidr", "cidr('192.168.0.0/24').containsIP('192.168.0.1')"),
    ("cidr", "!cidr('192.168.0.0/24').containsIP('192.168.1.1')"),
    ("cidr", "cidr('192.168.0.0/16').containsCIDR(cidr('192.168.10.0/24'))"),
    ("cidr", "!cidr('192.168.1.0/24').containsCIDR(cidr('192.168.2.0/24'))"),
    ("cidr", "cidr('192.168.0.0/16').containsCIDR('192.168.10.0/24')"),
    ("cidr", "!cidr('192.168.0.0/24').containsCIDR('192.168.0.0/23')"),
    ("cidr", "cidr('2001:db8::/32').containsCIDR(cidr('2001:db8::/33'))"),
    ("cidr", "cidr('192.168.0.1/24').ip() == ip('192.168.0.1')"),
    ("cidr", "cidr('192.168.0.1/24').ip().family() == 4 && cidr('::1/128').ip().family() == 6"),
    ("cidr", "cidr('192.168.0.1/24').masked() == cidr('192.168.0.0/24')"),
    ("cidr", "cidr('192.168.0.0/24') == cidr('192.168.0.0/24').masked()"),
    ("cidr", "cidr('192.168.0.1/24') != cidr('192.168.0.1/24').masked()"),
    ("cidr", "cidr('192.168.0.0/16').prefixLength() == 16 && cidr('::1/128').prefixLength() == 128"),
    ("cidr", "string(cidr('192.168.0.0/24')) == '192.168.0.0/24'"),
    ("cidr", "type(cidr('192.168.0.0/24')) == net.CIDR"),
    // Kubernetes semver library
    ("semver", "isSemver('1.0.0') && !isSemver('hello') && !isSemver('v1.0')"),
    ("semver", "isSemver('v1.0', true) && isSemver('01.01.01', true)"),
    ("semver", "semver('v1.0.0', true) == semver('1.0.0')"),
    ("semver", "semver('1.0', true) == semver('1.0.0')"),
    ("semver", "semver('01.01.01', true) == semver('1.1.1')"),
    ("semver", "semver('1.2.3').major() == 1 && semver('1.2.3').minor() == 2 && semver('1.2.3').patch() == 3"),
    ("semver", "semver('1.2.3').compareTo(semver('1.2.3')) == 0"),
    ("semver", "semver('1.2.3').compareTo(semver('2.0.0')) == -1"),
    ("semver", "semver('1.2.3').compareTo(semver('0.1.2')) == 1"),
    ("semver", "semver('1.0.0-alpha').isLessThan(semver('1.0.0'))"),
    ("semver", "semver('2.0.0').isGreaterThan(semver('1.9.9'))"),
    ("semver", "type(semver('1.0.0')) == kubernetes.Semver"),
    // cel-go ext encoders and math
    ("base64", "base64.encode(b'hello') == 'aGVsbG8='"),
    ("base64", "base64.decode('aGVsbG8=') == b'hello'"),
    ("math", "math.greatest(1, 5) == 5 && math.greatest([1, 5, 3]) == 5"),
    ("math", "math.least(-1, 0) == -1 && math.least([3.0, 2.0]) == 2.0"),
    ("math", "math.ceil(1.2) == 2.0 && math.abs(-2) == 2 && math.bitOr(1, 2) == 3"),
    // optional values
    ("optional", "{'a': 1}.?a.orValue(0) == 1 && {'a': 1}.?b.orValue(0) == 0"),
    ("optional", "{'a': 1}[?'a'].hasValue()"),
    ("optional", "optional.of(1).value() == 1 && !optional.none().hasValue()"),
    ("optional", "!optional.ofNonZeroValue('').hasValue() && optional.ofNonZeroValue(1).hasValue()"),
    ("optional", "[1, ?optional.none(), 2] == [1, 2]"),
    ("optional", "{?'k': optional.none()} == {}"),
    ("optional", "optional.none().or(optional.of(2)).value() == 2"),
    ("optional", "[1, 2][?5].orValue(0) == 0"),
    // cel-go ext bindings
    ("bind", "cel.bind(x, 2, x * x) == 4"),
    ("bind", "cel.bind(a, 'x', cel.bind(b, 'y', a + b)) == 'xy'"),
    // cel-go ext two-variable comprehensions
    ("comprehensions", "[1, 2].all(i, v, i < v)"),
    ("comprehensions", "{'a': 1}.exists(k, v, k == 'a' && v == 1)"),
    ("comprehensions", "[1, 2, 3].existsOne(i, v, i == 1 && v == 2)"),
    ("comprehensions", "[1, 2].transformList(i, v, i + v) == [1, 3]"),
    ("comprehensions", "[1, 2, 3].transformList(i, v, i > 0, v * 2) == [4, 6]"),
    ("comprehensions", "{'a': 1, 'b': 2}.transformMap(k, v, v * 10) == {'a': 10, 'b': 20}"),
    ("comprehensions", "{'a': 1, 'b': 2}.transformMap(k, v, k == 'a', v) == {'a': 1}"),
    ("comprehensions", "[1, 2].transformMapEntry(i, v, {string(v): i}) == {'1': 0, '2': 1}"),
    // Kubernetes format and jsonpatch libraries
    ("format", "!format.dns1123Label().validate('my-name').hasValue()"),
    ("format", "format.dns1123Label().validate('MyName').hasValue()"),
    ("format", "format.named('dns1123Subdomain').value().validate('a.b').orValue([]) == []"),
    ("jsonpatch", "jsonpatch.escapeKey('k8s.io/my~label') == 'k8s.io~1my~0label'"),
    // cross-type numeric comparisons
    ("numbers", "1 < 1.5 && 2u > 1 && 1 == 1.0"),
];

/// Expressions that compile and fail at run time.
const ERROR_PROBES: &[(&str, &str)] = &[
    ("lists", "[].min()"),
    ("strings", "'hello'.charAt(6)"),
    ("url", "url('https://a:b:c/')"),
    ("url", "url('../relative-path')"),
    ("quantity", "quantity('200K')"),
    ("quantity", "quantity('10Mm')"),
    (
        "quantity",
        "quantity('9999999999999999999999999999999999999G').asInteger()",
    ),
    ("ip", "ip('127.0.0.256')"),
    ("ip", "ip('::ffff:1.2.3.4')"),
    ("cidr", "cidr('192.168.0.0/33')"),
    ("semver", "semver('200K')"),
    ("semver", "semver('Three')"),
];

/// What a compiled expression gives with nothing bound: its bool, or what went wrong.
pub(crate) fn truth(env: &Environment, compiled: Result<Program, String>) -> Result<bool, String> {
    let program = compiled.map_err(|e| format!("compile: {e}"))?;
    match env.evaluate(&program, &Activation::new()) {
        Ok(Value::Bool(b)) => Ok(b),
        Ok(v) => Err(format!("not a bool: {v:?}")),
        Err(e) => Err(format!("eval: {e}")),
    }
}

/// The probes that fail, each with what happened.
fn failures() -> Vec<String> {
    let env = Environment::new();
    let options = CompileOptions::default();
    let mut failed = Vec::new();
    for (library, source) in PROBES {
        let outcome = truth(
            &env,
            env.compile(source, &options).map_err(|e| e.to_string()),
        );
        if outcome != Ok(true) {
            failed.push(format!("[{library}] {source}: {outcome:?}"));
        }
    }
    for (library, source) in ERROR_PROBES {
        let outcome = env
            .compile(source, &options)
            .map_err(|e| format!("compile: {e}"))
            .map(|p| {
                env.evaluate(&p, &Activation::new())
                    .map(|v| format!("{v:?}"))
            });
        if !matches!(outcome, Ok(Err(_))) {
            failed.push(format!("[{library}] error expected: {source}: {outcome:?}"));
        }
    }
    failed
}

#[test]
fn kubernetes_probes_pass() {
    let failed = failures();
    let total = PROBES.len() + ERROR_PROBES.len();
    eprintln!("probes: {} of {total} pass", total - failed.len());
    assert!(failed.is_empty(), "{failed:#?}");
}
