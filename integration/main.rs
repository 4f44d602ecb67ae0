//! The one integration-test binary: golden fixtures through the library, and the real
//! `cmek-gate` binary driven as a user would.

mod api_gate;
mod block_path;
mod cel_oracle;
mod cli;
mod closed_pipe;
mod consumers;
mod dashboard;
mod disguised;
mod doc_snippets;
mod fake_google;
mod fix;
mod gcloud;
mod golden;
mod kpt;
mod kube;
mod lint;
mod live;
mod namespaces;
mod params_selection;
mod parser_differential;
mod parser_generator;
mod policy_sets;
mod reload;
mod sarif;
mod scan;
mod scan_history;
mod scan_html;
mod server;
mod server_attack;
mod server_support;
mod support;
mod vap_differential;
