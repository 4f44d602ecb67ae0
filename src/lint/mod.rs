//! `cmek-gate lint`: what is wrong or risky in policy files, found without running them. Pure:
//! policy texts in, findings out.

pub mod schema;
