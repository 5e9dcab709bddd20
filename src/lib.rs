//! phananh: the backend of "Đơn Dương trực tuyến". See README.md for the map of this tree.

pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod http_context;
pub mod jobs;
pub mod media;
pub mod notify;
pub mod routes;
pub mod security;
pub mod startup;
pub mod telemetry;
