//! Administration (role `admin`; managers may read their own department's users): the reference
//! data the product runs on, accounts, API keys, the outbox, and the audit log of every change.
//! One module per resource.

pub mod api_keys;
pub mod areas;
pub mod audit;
pub mod categories;
pub mod departments;
pub mod holidays;
mod input;
pub mod outbox;
pub mod routing;
pub mod routing_rules;
pub mod users;
