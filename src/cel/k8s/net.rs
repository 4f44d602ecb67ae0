//! Kubernetes' IP and CIDR libraries (k8s.io/apiserver/pkg/cel/library/ip.go, cidr.go), with
//! Go's `net/netip` rules: no zones, no IPv4-mapped IPv6 addresses, no leading zeros in IPv4
//! octets, canonical text as RFC 5952.

use super::{add_type, fail, value_type};
use cel::common::types::{CelBool, CelInt, CelString, Type};
use cel::{DeclarationError, Env, ExecutionError};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub(super) static IP_TYPE: Type = Type::new_unspecified_type("net.IP");
pub(super) static CIDR_TYPE: Type = Type::new_unspecified_type("net.CIDR");

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ip(IpAddr);

/// An address and a prefix length; the address keeps its bits past the prefix, as
/// `netip.Prefix` does (see `masked()`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cidr {
    addr: IpAddr,
    bits: u8,
}

value_type!(Ip, IP_TYPE);
value_type!(Cidr, CIDR_TYPE);

pub(super) fn register(env: &mut Env) -> Result<(), DeclarationError> {
    add_type(env, &IP_TYPE)?;
    add_type(env, &CIDR_TYPE)?;
    cel::add_overload!(env, fn to_ip: (CelString) -> Result<Ip>, name = "ip")?;
    cel::add_overload!(env, fn is_ip: (CelString) -> CelBool, name = "isIP")?;
    cel::add_overload!(env, fn is_canonical: (CelString) -> Result<CelBool>, name = "ip.isCanonical")?;
    cel::add_overload!(env, fn ip_string: (Ip) -> CelString, name = "string", id = "string(net.IP)")?;
    cel::add_member_overload!(env, fn family: (Ip) -> CelInt)?;
    cel::add_member_overload!(env, fn is_unspecified: (Ip) -> CelBool)?;
    cel::add_member_overload!(env, fn is_loopback: (Ip) -> CelBool)?;
    cel::add_member_overload!(env, fn is_link_local_multicast: (Ip) -> CelBool)?;
    cel::add_member_overload!(env, fn is_link_local_unicast: (Ip) -> CelBool)?;
    cel::add_member_overload!(env, fn is_global_unicast: (Ip) -> CelBool)?;

    cel::add_overload!(env, fn to_cidr: (CelString) -> Result<Cidr>, name = "cidr")?;
    cel::add_overload!(env, fn is_cidr: (CelString) -> CelBool, name = "isCIDR")?;
    cel::add_overload!(env, fn cidr_string: (Cidr) -> CelString, name = "string", id = "string(net.CIDR)")?;
    cel::add_member_overload!(env, fn contains_ip: (Cidr, Ip) -> CelBool, name = "containsIP")?;
    cel::add_member_overload!(env, fn contains_ip_string: (Cidr, CelString) -> Result<CelBool>,
        name = "containsIP")?;
    cel::add_member_overload!(env, fn contains_cidr: (Cidr, Cidr) -> CelBool, name = "containsCIDR")?;
    cel::add_member_overload!(env, fn contains_cidr_string: (Cidr, CelString) -> Result<CelBool>,
        name = "containsCIDR")?;
    cel::add_member_overload!(env, fn cidr_ip: (Cidr) -> Ip, name = "ip")?;
    cel::add_member_overload!(env, fn masked: (Cidr) -> Cidr)?;
    cel::add_member_overload!(env, fn prefix_length: (Cidr) -> CelInt)?;
    Ok(())
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

fn to_ip(s: &CelString<'_>) -> Result<Ip, ExecutionError> {
    parse_ip(s.inner()).map(Ip).map_err(|e| fail("ip", e))
}

fn is_ip(s: &CelString<'_>) -> CelBool {
    CelBool::from(parse_ip(s.inner()).is_ok())
}

fn is_canonical(s: &CelString<'_>) -> Result<CelBool, ExecutionError> {
    let addr = parse_ip(s.inner()).map_err(|e| fail("ip.isCanonical", e))?;
    Ok(CelBool::from(addr.to_string() == s.inner()))
}

fn ip_string(ip: &Ip) -> CelString<'static> {
    ip.0.to_string().into()
}

fn family(ip: &Ip) -> CelInt {
    CelInt::from(if ip.0.is_ipv4() { 4 } else { 6 })
}

fn is_unspecified(ip: &Ip) -> CelBool {
    CelBool::from(ip.0.is_unspecified())
}

fn is_loopback(ip: &Ip) -> CelBool {
    CelBool::from(ip.0.is_loopback())
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

fn is_link_local_multicast(ip: &Ip) -> CelBool {
    CelBool::from(match ip.0 {
        IpAddr::V4(v4) => v4.octets()[..3] == [224, 0, 0],
        IpAddr::V6(v6) => v6.segments()[0] & 0xff0f == 0xff02,
    })
}

fn is_link_local_unicast(ip: &Ip) -> CelBool {
    CelBool::from(link_local_unicast(&ip.0))
}

/// Go's `Addr.IsGlobalUnicast`: private and unique-local addresses count.
fn is_global_unicast(ip: &Ip) -> CelBool {
    let addr = ip.0;
    let excluded = match addr {
        IpAddr::V4(v4) => v4.is_unspecified() || v4.is_broadcast(),
        IpAddr::V6(v6) => v6.is_unspecified(),
    };
    CelBool::from(
        !excluded && !addr.is_loopback() && !is_multicast(&addr) && !link_local_unicast(&addr),
    )
}

fn to_cidr(s: &CelString<'_>) -> Result<Cidr, ExecutionError> {
    parse_cidr(s.inner()).map_err(|e| fail("cidr", format!("network address parse error: {e}")))
}

fn is_cidr(s: &CelString<'_>) -> CelBool {
    CelBool::from(parse_cidr(s.inner()).is_ok())
}

fn cidr_string(c: &Cidr) -> CelString<'static> {
    format!("{}/{}", c.addr, c.bits).into()
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

fn contains_ip(c: &Cidr, ip: &Ip) -> CelBool {
    CelBool::from(contains(c, &ip.0))
}

fn contains_ip_string(c: &Cidr, ip: &CelString<'_>) -> Result<CelBool, ExecutionError> {
    let ip = parse_ip(ip.inner()).map_err(|e| fail("containsIP", e))?;
    Ok(CelBool::from(contains(c, &ip)))
}

/// Whether `other` is a subnet of `c`: same family, a prefix at least as long, and the same
/// network at `c`'s length (Kubernetes' test since kubernetes/kubernetes#130450).
fn contains_network(c: &Cidr, other: &Cidr) -> bool {
    c.addr.is_ipv4() == other.addr.is_ipv4()
        && c.bits <= other.bits
        && mask(c.addr, c.bits) == mask(other.addr, c.bits)
}

fn contains_cidr(c: &Cidr, other: &Cidr) -> CelBool {
    CelBool::from(contains_network(c, other))
}

fn contains_cidr_string(c: &Cidr, other: &CelString<'_>) -> Result<CelBool, ExecutionError> {
    let other = parse_cidr(other.inner())
        .map_err(|e| fail("containsCIDR", format!("network address parse error: {e}")))?;
    Ok(CelBool::from(contains_network(c, &other)))
}

fn cidr_ip(c: &Cidr) -> Ip {
    Ip(c.addr)
}

fn masked(c: &Cidr) -> Cidr {
    Cidr {
        addr: mask(c.addr, c.bits),
        bits: c.bits,
    }
}

fn prefix_length(c: &Cidr) -> CelInt {
    CelInt::from(c.bits as i64)
}
