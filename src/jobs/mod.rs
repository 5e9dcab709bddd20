//! Background work that runs inside `serve`. Every job is safe with several server processes on
//! one database: work is claimed in PostgreSQL (`FOR UPDATE SKIP LOCKED`), never by in-process
//! state alone.

pub mod deadlines;
pub mod digest;
pub mod ioc_push;
pub mod media_sweeper;
pub mod outbox;
pub mod retention;

use std::sync::Arc;

use crate::startup::AppState;

/// Starts the background jobs on the current runtime.
pub fn spawn(state: Arc<AppState>) {
    tokio::spawn(media_sweeper::run(state.clone()));
    tokio::spawn(deadlines::run(state.clone()));
    tokio::spawn(digest::run(state.clone()));
    tokio::spawn(retention::run(state.clone()));
    if state.settings.ioc.push_url.is_some() {
        tokio::spawn(ioc_push::run(state.clone()));
    }
    tokio::spawn(outbox::run(state));
}
