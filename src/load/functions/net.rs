//! Network address functions: `cidrsubnet`, `cidrhost`, for IPv4 and IPv6 prefixes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hcl::eval::FuncArgs;
use hcl::Value;

use super::args::{Args, FnResult};

/// A prefix `addr/len`: its network address as a number, its length, the address width.
struct Prefix {
    network: u128,
    len: u32,
    bits: u32,
}

impl Prefix {
    fn parse(s: &str) -> Result<Prefix, String> {
        let fail = || {
            format!("invalid CIDR address {s:?}: expected an address and a prefix length, such as \"10.0.0.0/16\"")
        };
        let (addr, len) = s.split_once('/').ok_or_else(fail)?;
        let ip: IpAddr = addr.parse().map_err(|_| fail())?;
        if len.is_empty() || !len.chars().all(|c| c.is_ascii_digit()) {
            return Err(fail());
        }
        let len: u32 = len.parse().map_err(|_| fail())?;
        let (value, bits) = match ip {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
            IpAddr::V6(v6) => (u128::from(v6), 128),
        };
        if len > bits {
            return Err(fail());
        }
        Ok(Prefix {
            network: value & mask(len, bits),
            len,
            bits,
        })
    }

    fn address(&self, value: u128) -> String {
        match self.bits {
            32 => Ipv4Addr::from(value as u32).to_string(),
            _ => Ipv6Addr::from(value).to_string(),
        }
    }
}

/// The network mask of a prefix length, as a number of `bits` bits.
fn mask(len: u32, bits: u32) -> u128 {
    let all = if bits == 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    };
    match bits - len {
        0 => all,
        host if host >= 128 => 0,
        host => all & !((1u128 << host) - 1),
    }
}

pub(super) fn cidrsubnet(a: FuncArgs) -> FnResult {
    let prefix = Prefix::parse(&a.text(0)?)?;
    let (newbits, netnum) = (a.int(1)?, a.int(2)?);
    let newbits = u32::try_from(newbits).map_err(|_| "newbits must be a non-negative number")?;
    let len = prefix.len.saturating_add(newbits);
    if len > prefix.bits {
        return Err(format!(
            "insufficient address space to extend prefix of {} by {newbits}",
            prefix.len
        ));
    }
    let fits = u64::try_from(netnum)
        .ok()
        .filter(|n| newbits >= 64 || *n < (1u64 << newbits));
    let Some(netnum) = fits else {
        return Err(format!(
            "prefix extension of {newbits} does not accommodate a subnet numbered {netnum}"
        ));
    };
    let shift = prefix.bits - len;
    let network = prefix.network | (u128::from(netnum) << shift.min(127));
    Ok(Value::from(format!("{}/{len}", prefix.address(network))))
}

pub(super) fn cidrhost(a: FuncArgs) -> FnResult {
    let prefix = Prefix::parse(&a.text(0)?)?;
    let hostnum = a.int(1)?;
    let host_bits = prefix.bits - prefix.len;
    let size: Option<i128> = (host_bits < 127).then(|| 1i128 << host_bits);
    let host = match (hostnum < 0, size) {
        (false, Some(size)) if i128::from(hostnum) < size => Some(hostnum as i128),
        (false, None) => Some(hostnum as i128),
        (true, Some(size)) if size + i128::from(hostnum) >= 0 => Some(size + i128::from(hostnum)),
        (true, None) => Some(i128::MAX),
        _ => None,
    };
    let Some(host) = host else {
        return Err(format!(
            "prefix of {} does not accommodate a host numbered {hostnum}",
            prefix.len
        ));
    };
    let host = if host == i128::MAX {
        // Counting back from the end of a /0 or /1 IPv6 prefix.
        (u128::MAX >> (128 - host_bits)).wrapping_sub((-(hostnum as i128) - 1) as u128)
    } else {
        host as u128
    };
    Ok(Value::from(prefix.address(prefix.network | host)))
}
