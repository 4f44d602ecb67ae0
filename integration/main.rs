//! The one integration-test binary: golden fixtures through the library, and the real
//! `cmek-gate` binary driven as a user would.

mod cli;
mod fix;
mod gcloud;
mod golden;
mod kpt;
mod kube;
mod lint;
mod sarif;
mod scan;
mod server;
mod server_support;
mod support;
