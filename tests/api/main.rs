//! Black-box API tests: the real server over HTTP, a real PostgreSQL database per test.

mod accounts;
mod admin;
mod admin_areas;
mod admin_holidays;
mod admin_users;
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
mod notifications;
mod open311;
mod openapi;
mod reports;
mod routing;
mod smtp;
mod stats;
mod synth;
mod tickets;
