//! Per-client-IP rate limits for login and registration (GCRA via `governor`, in memory, per
//! process: N processes allow N times the rate, which is fine for a brake on guessing; the
//! per-account lock-out that really stops password guessing lives in the database). The client
//! address is the TCP peer, or, behind proxies listed in `http.trusted_proxies`, the address they
//! report in `X-Forwarded-For`.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::AuthSettings;
use crate::error::ApiError;

pub struct Throttle {
    login: DefaultKeyedRateLimiter<IpAddr>,
    register: DefaultKeyedRateLimiter<IpAddr>,
}

impl Throttle {
    pub fn new(settings: &AuthSettings) -> Self {
        let per = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        Self {
            login: RateLimiter::keyed(Quota::per_minute(per(settings.login_per_minute_per_ip))),
            register: RateLimiter::keyed(Quota::per_hour(per(settings.register_per_hour_per_ip))),
        }
    }

    pub fn login(&self, ip: IpAddr) -> Result<(), ApiError> {
        check(&self.login, ip)
    }

    pub fn register(&self, ip: IpAddr) -> Result<(), ApiError> {
        check(&self.register, ip)
    }
}

/// Walks `X-Forwarded-For` from the right while the hop is a trusted proxy; the first untrusted
/// hop is the client. Without trusted proxies, or from an untrusted peer, the header is ignored
/// (anyone can write it).
pub fn client_address(peer: IpAddr, forwarded_for: &str, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded_for.split(',').rev() {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
}

/// IPv6 clients usually hold a whole /64: key them by it, or one host has unlimited keys.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(std::net::Ipv6Addr::from(bits))
        }
    }
}

fn check(limiter: &DefaultKeyedRateLimiter<IpAddr>, ip: IpAddr) -> Result<(), ApiError> {
    // Forget addresses whose bucket is full again, now and then, so memory stays bounded.
    if limiter.len() > 10_000 {
        limiter.retain_recent();
        limiter.shrink_to_fit();
    }
    match limiter.check_key(&client_key(ip)) {
        Ok(()) => Ok(()),
        Err(not_until) => {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            Err(ApiError::too_many_requests(
                wait.max(Duration::from_secs(1)),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // Through our proxy: the hop before it.
        assert_eq!(
            client_address(ip("10.0.0.5"), "198.51.100.7", &proxies),
            ip("198.51.100.7")
        );
        // A client forging the header in front of our proxy: the forged part is to the left.
        assert_eq!(
            client_address(ip("10.0.0.5"), "1.2.3.4, 198.51.100.7", &proxies),
            ip("198.51.100.7")
        );
        // Two of our proxies in a row.
        assert_eq!(
            client_address(ip("10.0.0.5"), "198.51.100.7, 10.0.0.9", &proxies),
            ip("198.51.100.7")
        );
        // Straight from the internet: the header is ignored.
        assert_eq!(
            client_address(ip("203.0.113.9"), "1.2.3.4", &proxies),
            ip("203.0.113.9")
        );
        // No proxies configured: ignored.
        assert_eq!(
            client_address(ip("10.0.0.5"), "1.2.3.4", &[]),
            ip("10.0.0.5")
        );
        // Garbage stops the walk at the last good hop.
        assert_eq!(
            client_address(ip("10.0.0.5"), "nonsense", &proxies),
            ip("10.0.0.5")
        );
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
        let v4: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(client_key(v4), v4);
    }
}
