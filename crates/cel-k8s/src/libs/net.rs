//! Kubernetes' IP and CIDR libraries (k8s.io/apiserver/pkg/cel/library/ip.go, cidr.go), with
//! Go's `net/netip` rules: no zones, no IPv4-mapped IPv6 addresses, no leading zeros in IPv4
//! octets, canonical text as RFC 5952.
//!
//! `ip` is both `ip(string)` and `CIDR.ip()`; `string(net.IP)` and `string(net.CIDR)` are the
//! standard `string`'s, which calls [`to_text`].

use super::support::{fail, no_overload, opaque, opaque_type, opaque_value};
use crate::error::EvalError;
use crate::library::{Library, Style};
use crate::value::{Opaque, Value};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The type name Kubernetes gives addresses.
pub const IP_TYPE: &str = "net.IP";
/// The type name Kubernetes gives ranges.
pub const CIDR_TYPE: &str = "net.CIDR";

/// An IP address.
#[derive(Debug, Clone, PartialEq)]
pub struct Ip(IpAddr);

/// An address and a prefix length; the address keeps its bits past the prefix, as
/// `netip.Prefix` does (see `masked()`).
#[derive(Debug, Clone, PartialEq)]
pub struct Cidr {
    addr: IpAddr,
    bits: u8,
}

opaque_type!(Ip, IP_TYPE);
opaque_type!(Cidr, CIDR_TYPE);

pub fn register(library: &mut Library) {
    use Style::{Global, Receiver};
    library.add("ip", Global, 1, to_ip);
    library.add("isIP", Global, 1, is_ip);
    library.add("ip.isCanonical", Global, 1, is_canonical);
    library.add("family", Receiver, 1, family);
    library.add("isUnspecified", Receiver, 1, is_unspecified);
    library.add("isLoopback", Receiver, 1, is_loopback);
    library.add("isLinkLocalMulticast", Receiver, 1, is_link_local_multicast);
    library.add("isLinkLocalUnicast", Receiver, 1, is_link_local_unicast);
    library.add("isGlobalUnicast", Receiver, 1, is_global_unicast);
    library.add("cidr", Global, 1, to_cidr);
    library.add("isCIDR", Global, 1, is_cidr);
    library.add("containsIP", Receiver, 2, contains_ip);
    library.add("containsCIDR", Receiver, 2, contains_cidr);
    library.add("ip", Receiver, 1, cidr_ip);
    library.add("masked", Receiver, 1, masked);
    library.add("prefixLength", Receiver, 1, prefix_length);
}

/// The text `string()` gives an address or a range (canonical form), `None` for other values.
pub fn to_text(value: &dyn Opaque) -> Option<String> {
    let any = value.as_any();
    if let Some(ip) = any.downcast_ref::<Ip>() {
        return Some(ip.0.to_string());
    }
    any.downcast_ref::<Cidr>()
        .map(|c| format!("{}/{}", c.addr, c.bits))
}

/// Go's `netip.ParseAddr`, less zones and IPv4-mapped IPv6 addresses, as Kubernetes wants.
fn parse_ip(s: &str) -> Result<IpAddr, &'static str> {
    if s.contains('%') {
        return Err("IP address with zone value is not allowed");
    }
    let addr = if s.contains(':') {
        IpAddr::V6(s.parse::<Ipv6Addr>().map_err(|_| "invalid IP address")?)
    } else {
        IpAddr::V4(s.parse::<Ipv4Addr>().map_err(|_| "invalid IP address")?)
    };
    if let IpAddr::V6(v6) = addr {
        if v6.to_ipv4_mapped().is_some() {
            return Err("IPv4-mapped IPv6 address is not allowed");
        }
    }
    Ok(addr)
}

/// Go's `netip.ParsePrefix`, less IPv4-mapped IPv6 addresses.
fn parse_cidr(s: &str) -> Result<Cidr, &'static str> {
    let (addr, bits) = s.rsplit_once('/').ok_or("no '/'")?;
    let addr = parse_ip(addr)?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let valid = !bits.is_empty()
        && bits.bytes().all(|b| b.is_ascii_digit())
        && (bits.len() == 1 || !bits.starts_with('0'));
    let bits: u8 = bits
        .parse()
        .ok()
        .filter(|b| valid && *b <= max)
        .ok_or("bad bits after slash")?;
    Ok(Cidr { addr, bits })
}

fn string_arg<'v>(function: &str, args: &'v [Value<'_>]) -> Result<&'v str, EvalError> {
    match args {
        [Value::String(s)] => Ok(s),
        _ => Err(no_overload(function, args)),
    }
}

fn to_ip<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    parse_ip(string_arg("ip", args)?)
        .map(|a| opaque_value(Ip(a)))
        .map_err(|e| fail("ip", e))
}

fn is_ip<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    Ok(Value::Bool(parse_ip(string_arg("isIP", args)?).is_ok()))
}

fn is_canonical<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let s = string_arg("ip.isCanonical", args)?;
    let addr = parse_ip(s).map_err(|e| fail("ip.isCanonical", e))?;
    Ok(Value::Bool(addr.to_string() == s))
}

fn ip_arg(function: &str, args: &[Value<'_>]) -> Result<IpAddr, EvalError> {
    match args {
        [v] => opaque::<Ip>(v)
            .map(|ip| ip.0)
            .ok_or_else(|| no_overload(function, args)),
        _ => Err(no_overload(function, args)),
    }
}

fn family<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    Ok(Value::Int(if ip_arg("family", args)?.is_ipv4() {
        4
    } else {
        6
    }))
}

fn is_unspecified<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    Ok(Value::Bool(ip_arg("isUnspecified", args)?.is_unspecified()))
}

fn is_loopback<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    Ok(Value::Bool(ip_arg("isLoopback", args)?.is_loopback()))
}

fn is_multicast(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.octets()[0] & 0xf0 == 0xe0,
        IpAddr::V6(v6) => v6.octets()[0] == 0xff,
    }
}

fn link_local_unicast(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.octets()[..2] == [169, 254],
        IpAddr::V6(v6) => v6.segments()[0] & 0xffc0 == 0xfe80,
    }
}

fn is_link_local_multicast<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    Ok(Value::Bool(match ip_arg("isLinkLocalMulticast", args)? {
        IpAddr::V4(v4) => v4.octets()[..3] == [224, 0, 0],
        IpAddr::V6(v6) => v6.segments()[0] & 0xff0f == 0xff02,
    }))
}

fn is_link_local_unicast<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    Ok(Value::Bool(link_local_unicast(&ip_arg(
        "isLinkLocalUnicast",
        args,
    )?)))
}

/// Go's `Addr.IsGlobalUnicast`: private and unique-local addresses count.
fn is_global_unicast<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let addr = ip_arg("isGlobalUnicast", args)?;
    let excluded = match addr {
        IpAddr::V4(v4) => v4.is_unspecified() || v4.is_broadcast(),
        IpAddr::V6(v6) => v6.is_unspecified(),
    };
    Ok(Value::Bool(
        !excluded && !addr.is_loopback() && !is_multicast(&addr) && !link_local_unicast(&addr),
    ))
}

fn to_cidr<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    parse_cidr(string_arg("cidr", args)?)
        .map(opaque_value)
        .map_err(|e| fail("cidr", format!("network address parse error: {e}")))
}

fn is_cidr<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    Ok(Value::Bool(parse_cidr(string_arg("isCIDR", args)?).is_ok()))
}

fn cidr_arg<'v>(function: &str, args: &'v [Value<'_>]) -> Result<&'v Cidr, EvalError> {
    args.first()
        .and_then(opaque::<Cidr>)
        .ok_or_else(|| no_overload(function, args))
}

/// The address with the bits past `bits` cleared.
fn mask(addr: IpAddr, bits: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let keep = u32::MAX.checked_shl(32 - bits as u32).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(v4) & keep))
        }
        IpAddr::V6(v6) => {
            let keep = u128::MAX.checked_shl(128 - bits as u32).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & keep))
        }
    }
}

fn contains(c: &Cidr, ip: &IpAddr) -> bool {
    c.addr.is_ipv4() == ip.is_ipv4() && mask(*ip, c.bits) == mask(c.addr, c.bits)
}

/// `CIDR.containsIP(net.IP | string)`.
fn contains_ip<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let c = cidr_arg("containsIP", args)?;
    let ip = match args {
        [_, Value::String(s)] => parse_ip(s).map_err(|e| fail("containsIP", e))?,
        [_, other] => opaque::<Ip>(other)
            .map(|ip| ip.0)
            .ok_or_else(|| no_overload("containsIP", args))?,
        _ => return Err(no_overload("containsIP", args)),
    };
    Ok(Value::Bool(contains(c, &ip)))
}

/// Whether `other` is a subnet of `c`: same family, a prefix at least as long, and the same
/// network at `c`'s length (Kubernetes' test since kubernetes/kubernetes#130450).
fn contains_network(c: &Cidr, other: &Cidr) -> bool {
    c.addr.is_ipv4() == other.addr.is_ipv4()
        && c.bits <= other.bits
        && mask(c.addr, c.bits) == mask(other.addr, c.bits)
}

/// `CIDR.containsCIDR(net.CIDR | string)`.
fn contains_cidr<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let c = cidr_arg("containsCIDR", args)?;
    let other = match args {
        [_, Value::String(s)] => parse_cidr(s)
            .map_err(|e| fail("containsCIDR", format!("network address parse error: {e}")))?,
        [_, other] => opaque::<Cidr>(other)
            .cloned()
            .ok_or_else(|| no_overload("containsCIDR", args))?,
        _ => return Err(no_overload("containsCIDR", args)),
    };
    Ok(Value::Bool(contains_network(c, &other)))
}

fn only_cidr<'v>(function: &str, args: &'v [Value<'_>]) -> Result<&'v Cidr, EvalError> {
    match args {
        [_] => cidr_arg(function, args),
        _ => Err(no_overload(function, args)),
    }
}

fn cidr_ip<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    Ok(opaque_value(Ip(only_cidr("ip", args)?.addr)))
}

fn masked<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    let c = only_cidr("masked", args)?;
    Ok(opaque_value(Cidr {
        addr: mask(c.addr, c.bits),
        bits: c.bits,
    }))
}

fn prefix_length<'a>(args: &[Value<'a>]) -> Result<Value<'a>, EvalError> {
    Ok(Value::Int(only_cidr("prefixLength", args)?.bits as i64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::libs::support::equals;
    use crate::libs::support::testing::*;

    fn ipv(s: &str) -> Value<'static> {
        to_ip(&[Value::string(s)]).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn cv(s: &str) -> Value<'static> {
        to_cidr(&[Value::string(s)]).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn text(v: &Value<'_>) -> String {
        match v {
            Value::Opaque(o) => to_text(o.as_ref()).expect("an address or a range"),
            _ => panic!("not opaque"),
        }
    }

    #[test]
    fn documented_examples() {
        check_err("ip mapped", to_ip(&[s("::ffff:1.2.3.4")]), "IPv4-mapped");
        check("isIP", is_ip(&[s("127.0.0.1")]), b(true));
        check(
            "isCanonical",
            is_canonical(&[s("2001:DB8::ABCD")]),
            b(false),
        );
        check("family", family(&[ipv("::1")]), i(6));
        check("isUnspecified", is_unspecified(&[ipv("0.0.0.0")]), b(true));
        check("isLoopback", is_loopback(&[ipv("127.0.0.1")]), b(true));
        check(
            "isLinkLocalMulticast",
            is_link_local_multicast(&[ipv("ff02::1")]),
            b(true),
        );
        check(
            "isLinkLocalUnicast",
            is_link_local_unicast(&[ipv("169.254.169.254")]),
            b(true),
        );
        check(
            "isGlobalUnicast",
            is_global_unicast(&[ipv("192.168.0.1")]),
            b(true),
        );
        check_err("cidr /33", to_cidr(&[s("192.168.0.0/33")]), "bad bits");
        check("isCIDR", is_cidr(&[s("::1/128")]), b(true));
        check(
            "containsIP",
            contains_ip(&[cv("192.168.0.0/24"), s("192.168.0.1")]),
            b(true),
        );
        check(
            "containsCIDR",
            contains_cidr(&[cv("192.168.0.0/16"), s("192.168.10.0/24")]),
            b(true),
        );
        assert!(equals(
            &cidr_ip(&[cv("192.168.0.1/24")]).unwrap(),
            &ipv("192.168.0.1")
        ));
        assert_eq!(
            text(&masked(&[cv("192.168.0.1/24")]).unwrap()),
            "192.168.0.0/24"
        );
        check(
            "prefixLength",
            prefix_length(&[cv("192.168.0.0/16")]),
            i(16),
        );
    }

    #[test]
    fn go_netip_rules() {
        for bad in [
            "",
            "1.2.3",
            "01.2.3.4",
            "1.2.3.4%eth0",
            "fe80::1%eth0",
            "::ffff:1.2.3.4",
            "1.2.3.256",
            " 1.2.3.4",
        ] {
            check(bad, is_ip(&[s(bad)]), b(false));
        }
        for bad in [
            "1.2.3.4",
            "1.2.3.4/",
            "1.2.3.4/01",
            "::/129",
            "1.2.3.4/-1",
            "::ffff:1.2.3.4/96",
        ] {
            check(bad, is_cidr(&[s(bad)]), b(false));
        }
        check(
            "canonical v6",
            is_canonical(&[s("2001:db8::abcd")]),
            b(true),
        );
        check_err("canonical invalid", is_canonical(&[s("x")]), "invalid IP");
        check("v4 family", family(&[ipv("10.0.0.1")]), i(4));
        check(
            "broadcast not global",
            is_global_unicast(&[ipv("255.255.255.255")]),
            b(false),
        );
        check("ula global", is_global_unicast(&[ipv("fd00::1")]), b(true));
        check(
            "224.0.0.1",
            is_link_local_multicast(&[ipv("224.0.0.1")]),
            b(true),
        );
        check(
            "224.0.1.1",
            is_link_local_multicast(&[ipv("224.0.1.1")]),
            b(false),
        );
        check("fe80", is_link_local_unicast(&[ipv("fe80::1")]), b(true));
        check(
            "cross family",
            contains_cidr(&[cv("1.2.3.4/0"), s("::/0")]),
            b(false),
        );
        check(
            "wider",
            contains_cidr(&[cv("10.0.0.0/16"), cv("10.0.0.0/8")]),
            b(false),
        );
        check(
            "ip object",
            contains_ip(&[cv("10.0.0.0/8"), ipv("10.1.2.3")]),
            b(true),
        );
        check(
            "v6 in v4",
            contains_ip(&[cv("0.0.0.0/0"), ipv("::1")]),
            b(false),
        );
        check_err(
            "bad ip string",
            contains_ip(&[cv("10.0.0.0/8"), s("x")]),
            "invalid IP",
        );
        check_err(
            "kinds",
            contains_ip(&[cv("10.0.0.0/8"), i(1)]),
            "no matching overload for 'containsIP'",
        );
        check_err(
            "receiver",
            family(&[s("1.2.3.4")]),
            "no matching overload for 'family'",
        );
        assert_eq!(
            text(&cv("10.1.2.3/8")),
            "10.1.2.3/8",
            "the address as written"
        );
        assert_eq!(text(&ipv("2001:DB8::ABCD")), "2001:db8::abcd");
        assert!(!equals(&ipv("1.2.3.4"), &cv("1.2.3.4/32")));
        assert_eq!(crate::libs::support::type_name(&ipv("::1")), "net.IP");
        assert_eq!(crate::libs::support::type_name(&cv("::1/128")), "net.CIDR");
    }
}
