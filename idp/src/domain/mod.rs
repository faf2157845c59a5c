//! The rules, pure: no HTTP, no SQL, time passed in as Unix seconds.

pub mod account;
pub mod contact;
pub mod history;
pub mod identifier;
pub mod identity;
pub mod matching;
pub mod merge;
pub mod names;
pub mod password_policy;
pub mod session;
pub mod staff;
pub mod totp;
