//! cmek-gate: a deploy-time gate that keeps Cloud Run services which handle sensitive data from
//! being deployed without a customer-managed encryption key (CMEK).
//!
//! Pure modules (no I/O): [`manifest`] (text to positioned documents), [`cel`] (the CEL
//! environment), [`policy`] (Kubernetes ValidatingAdmissionPolicy types and compilation),
//! [`engine`] (one decision function every entry point calls) and [`report`] (output).
//! I/O lives at the edges: [`policy::load`] reads policy files, [`cli`] the command line.
#![forbid(unsafe_code)]

pub mod admission;
pub mod batch;
pub mod cel;
pub mod certs;
pub mod cli;
pub mod cloudrun_api;
pub mod engine;
pub mod eval_batch;
pub mod fix;
pub mod google;
pub mod http_client;
pub mod krm_function;
pub mod limits;
pub mod lint;
pub mod live;
pub mod manifest;
pub mod metrics;
pub mod namespaces;
pub mod parallel;
pub mod policy;
pub mod report;
pub mod scan;
pub mod server;
pub mod suite;
#[cfg(test)]
mod test_random;
pub mod trace;
