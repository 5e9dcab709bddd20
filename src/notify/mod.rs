//! Messages that leave the process. Delivery adapters (`email`, `push`, `ioc`) are what the
//! outbox worker (`jobs::outbox`) calls; `templates` renders what people read; `enqueue` decides
//! who hears of what, and writes it to the outbox in the caller's transaction.

pub mod email;
pub mod enqueue;
pub mod ioc;
pub mod push;
pub mod templates;

/// Why a delivery failed, and whether trying again could help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// A retry cannot succeed (a malformed address, a 5xx refusal of the recipient).
    pub permanent: bool,
    /// The push target is gone for good (FCM `UNREGISTERED`): forget the device.
    pub forget_device: bool,
    pub message: String,
    /// The receiver asked us to wait this long before trying again (`Retry-After`).
    pub retry_after: Option<std::time::Duration>,
}

impl Failure {
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            permanent: false,
            forget_device: false,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            permanent: true,
            forget_device: false,
            message: message.into(),
            retry_after: None,
        }
    }
}
