//! Black-box API tests: the real server over HTTP, a real PostgreSQL database per test.

mod accounts;
mod admin;
mod admin_catalog;
mod authz;
mod catalog;
mod cli;
mod errors;
mod fcm;
mod health;
mod helpers;
mod ioc;
mod media;
mod migrations;
mod moderation;
mod notifications;
mod open311;
mod openapi;
mod privacy;
mod reports;
mod routing;
mod smtp;
mod stats;
mod synth;
mod tickets;
