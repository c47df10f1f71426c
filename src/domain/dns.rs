//! Asks the public DNS which name servers a zone is delegated to: one NS query over UDP to the
//! machine's resolver (the first `nameserver` of /etc/resolv.conf), bounded in time and size.
//! Deploy compares the answer with the Route53 zone's own name servers before it asks for a
//! certificate: ACM validates by looking the CNAME up in public DNS, so a zone the world does
//! not reach leaves a certificate pending for hours (RFC 1035, section 4, for the message).

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

/// What the resolver said of a zone's NS records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delegation {
    /// The name servers, lower case, without the trailing dot, sorted.
    Servers(Vec<String>),
    /// NXDOMAIN: the name does not exist in public DNS (its parent delegates nothing).
    NoSuchName,
    /// The name exists but has no NS records (it is not a delegated zone).
    NoServers,
}

/// The resolver /etc/resolv.conf names first, port 53.
pub fn system_resolver() -> Option<SocketAddr> {
    let text =
        crate::safe_fs::read_capped(std::path::Path::new("/etc/resolv.conf"), 64 * 1024).ok()?;
    let text = String::from_utf8_lossy(&text);
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|rest| rest.split_whitespace().next())
        .find_map(|ip| ip.parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
}

/// The NS records of `zone`, asked of `resolver`: two tries of `wait` each.
pub fn name_servers(
    resolver: SocketAddr,
    zone: &str,
    wait: Duration,
) -> Result<Delegation, String> {
    let id: u16 = (crate::aws::jitter() * 65535.0) as u16;
    let query = ns_query(id, zone)?;
    let bind: SocketAddr = if resolver.is_ipv4() {
        "0.0.0.0:0".parse().map_err(|e| format!("{e}"))?
    } else {
        "[::]:0".parse().map_err(|e| format!("{e}"))?
    };
    let socket = UdpSocket::bind(bind).map_err(|e| format!("no UDP socket: {e}"))?;
    socket
        .set_read_timeout(Some(wait))
        .map_err(|e| format!("{e}"))?;
    socket.connect(resolver).map_err(|e| format!("{e}"))?;
    let mut buf = [0u8; 4096];
    for _ in 0..2 {
        socket
            .send(&query)
            .map_err(|e| format!("sending to {resolver}: {e}"))?;
        // Packets that answer something else (a late answer, noise) are skipped, a bounded
        // number of them, so a noisy network cannot hold the deploy.
        for _ in 0..16 {
            let Ok(n) = socket.recv(&mut buf) else {
                break;
            };
            if let Ok(r) = parse_answer(&buf[..n], id) {
                return r;
            }
        }
    }
    Err(format!(
        "the DNS resolver {resolver} did not answer within {} s",
        (wait * 2).as_secs()
    ))
}

/// An answer to another query.
struct Mismatch;

fn ns_query(id: u16, zone: &str) -> Result<Vec<u8>, String> {
    let mut q = Vec::with_capacity(32 + zone.len());
    q.extend_from_slice(&id.to_be_bytes());
    // Recursion desired; one question.
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in zone.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!("'{zone}' is not a DNS name"));
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    // QTYPE NS, QCLASS IN.
    q.extend_from_slice(&[0, 2, 0, 1]);
    Ok(q)
}

/// Reads a (possibly compressed) name at `at`; returns it and the offset after it in place.
fn read_name(msg: &[u8], mut at: usize) -> Option<(String, usize)> {
    let mut labels: Vec<String> = Vec::new();
    let mut end = None;
    // Each pointer must go back, and there are at most this many: no loop.
    for _ in 0..64 {
        let len = *msg.get(at)? as usize;
        if len & 0xC0 == 0xC0 {
            let target = ((len & 0x3F) << 8) | *msg.get(at + 1)? as usize;
            if target >= at {
                return None;
            }
            end.get_or_insert(at + 2);
            at = target;
            continue;
        }
        if len == 0 {
            let name = labels.join(".").to_ascii_lowercase();
            return Some((name, end.unwrap_or(at + 1)));
        }
        let label = msg.get(at + 1..at + 1 + len)?;
        labels.push(String::from_utf8_lossy(label).into_owned());
        at += 1 + len;
    }
    None
}

fn u16_at(msg: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*msg.get(at)?, *msg.get(at + 1)?]))
}

fn parse_answer(msg: &[u8], id: u16) -> Result<Result<Delegation, String>, Mismatch> {
    if msg.len() < 12 || u16_at(msg, 0) != Some(id) || msg[2] & 0x80 == 0 {
        return Err(Mismatch);
    }
    let rcode = msg[3] & 0x0F;
    match rcode {
        0 => {}
        3 => return Ok(Ok(Delegation::NoSuchName)),
        2 => return Ok(Err("the DNS resolver failed to answer (SERVFAIL)".into())),
        5 => return Ok(Err("the DNS resolver refused the query (REFUSED)".into())),
        n => {
            return Ok(Err(format!(
                "the DNS resolver answered with error code {n}"
            )))
        }
    }
    let parsed = (|| {
        let qd = u16_at(msg, 4)? as usize;
        let an = u16_at(msg, 6)? as usize;
        let mut at = 12;
        for _ in 0..qd {
            at = read_name(msg, at)?.1 + 4;
        }
        let mut servers = Vec::new();
        for _ in 0..an {
            let (_, after) = read_name(msg, at)?;
            let ty = u16_at(msg, after)?;
            let len = u16_at(msg, after + 8)? as usize;
            let data = after + 10;
            if data + len > msg.len() {
                return None;
            }
            if ty == 2 {
                servers.push(read_name(msg, data)?.0);
            }
            at = data + len;
        }
        Some(servers)
    })();
    Ok(match parsed {
        None => Err("the DNS resolver's answer could not be read".into()),
        Some(s) if s.is_empty() => Ok(Delegation::NoServers),
        Some(mut s) => {
            s.sort();
            s.dedup();
            Ok(Delegation::Servers(s))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer as a resolver writes it: the question, then NS records whose names point
    /// back into the question (compression).
    fn answer(query: &[u8], servers: &[&str], rcode: u8) -> Vec<u8> {
        let mut m = query.to_vec();
        m[2] = 0x81;
        m[3] = 0x80 | rcode;
        m[6..8].copy_from_slice(&(servers.len() as u16).to_be_bytes());
        for s in servers {
            // The owner name: a pointer to the question's name at offset 12.
            m.extend_from_slice(&[0xC0, 12, 0, 2, 0, 1, 0, 0, 0x0E, 0x10]);
            let mut data = Vec::new();
            let (host, _) = s.split_once('.').unwrap();
            data.push(host.len() as u8);
            data.extend_from_slice(host.as_bytes());
            for label in s.split('.').skip(1) {
                data.push(label.len() as u8);
                data.extend_from_slice(label.as_bytes());
            }
            data.push(0);
            m.extend_from_slice(&(data.len() as u16).to_be_bytes());
            m.extend_from_slice(&data);
        }
        m
    }

    #[test]
    fn a_resolvers_answer_is_read_and_bad_ones_refused() {
        let q = ns_query(7, "example.com").unwrap();
        let a = answer(&q, &["ns-2.awsdns-02.org", "NS-1.awsdns-01.com"], 0);
        assert_eq!(
            parse_answer(&a, 7).ok().unwrap(),
            Ok(Delegation::Servers(vec![
                "ns-1.awsdns-01.com".into(),
                "ns-2.awsdns-02.org".into()
            ]))
        );
        assert!(parse_answer(&a, 8).is_err(), "another query's id");
        let nx = answer(&q, &[], 3);
        assert_eq!(
            parse_answer(&nx, 7).ok().unwrap(),
            Ok(Delegation::NoSuchName)
        );
        assert_eq!(
            parse_answer(&answer(&q, &[], 0), 7).ok().unwrap(),
            Ok(Delegation::NoServers)
        );
        // Cut short, or a pointer that loops: an error, not a panic or a hang.
        let cut = &a[..a.len() - 3];
        assert!(parse_answer(cut, 7).ok().unwrap().is_err());
        let mut looped = answer(&q, &["ns-1.awsdns-01.com"], 0);
        let at = q.len();
        looped[at] = 0xC0;
        looped[at + 1] = at as u8;
        assert!(parse_answer(&looped, 7).ok().unwrap().is_err());
        assert!(ns_query(1, "a..b").is_err());
    }

    /// Over real UDP, to a resolver on this machine.
    #[test]
    fn the_query_goes_to_the_resolver_and_its_answer_comes_back() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            let (n, from) = server.recv_from(&mut buf).unwrap();
            let reply = answer(&buf[..n], &["ns-9.awsdns-09.net"], 0);
            server.send_to(&reply, from).unwrap();
        });
        let got = name_servers(addr, "example.com", Duration::from_secs(2)).unwrap();
        t.join().unwrap();
        assert_eq!(got, Delegation::Servers(vec!["ns-9.awsdns-09.net".into()]));
        // Nobody answers: a bounded wait, then an error that says so.
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let err = name_servers(
            silent.local_addr().unwrap(),
            "example.com",
            Duration::from_millis(100),
        )
        .unwrap_err();
        assert!(err.contains("did not answer"), "{err}");
    }
}
