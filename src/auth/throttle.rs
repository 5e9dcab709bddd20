//! Per-client-IP rate limits for login and registration (GCRA via `governor`, in memory, per
//! process: N processes allow N times the rate, which is fine for a brake on guessing; the
//! per-account lock-out that really stops password guessing lives in the database).

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

fn check(limiter: &DefaultKeyedRateLimiter<IpAddr>, ip: IpAddr) -> Result<(), ApiError> {
    match limiter.check_key(&ip) {
        Ok(()) => Ok(()),
        Err(not_until) => {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            Err(ApiError::too_many_requests(
                wait.max(Duration::from_secs(1)),
            ))
        }
    }
}
