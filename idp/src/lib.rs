//! A federated identity provider for French schools, in the spirit of ÉduConnect.
//!
//! `domain` holds the rules (pure), `store` the durable data, `ephemeral` the short-lived
//! state, `web` the pages, `error` the mapping of errors to HTTP responses.

pub mod admin;
pub mod app;
pub mod audit;
pub mod bench;
pub mod config;
pub mod demo;
pub mod domain;
pub mod ephemeral;
pub mod error;
pub mod hashing;
pub mod import;
pub mod keys;
pub mod metrics;
pub mod notify;
pub mod protocol;
pub mod registry;
pub mod store;
pub mod web;

/// A page's text in the current request's language (`web::i18n`): `t` for handlers, `tr` for
/// templates.
pub use web::i18n::{t, tr};
