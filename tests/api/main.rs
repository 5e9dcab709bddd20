//! Black-box API tests: the real server over HTTP, a real PostgreSQL database per test.

mod catalog;
mod cli;
mod errors;
mod health;
mod helpers;
mod migrations;
mod openapi;
