//! The `kms` extension in the reference interpreter: never in live mode, so `kms.available()`
//! is false and the other functions fail as `cel-k8s`'s do without live data (the engine runs
//! `cel-k8s`, which answers them from live data; see `docs/live-checks.md`).

use super::fail;
use cel::common::types::{CelBool, CelString};
use cel::{DeclarationError, Env, ExecutionError};

pub(super) fn register(env: &mut Env) -> Result<(), DeclarationError> {
    cel::add_overload!(env, fn available: () -> CelBool, name = "kms.available")?;
    cel::add_overload!(env, fn key: (CelString) -> Result<CelBool>, name = "kms.key")?;
    cel::add_overload!(env, fn project_number: (CelString) -> Result<CelBool>, name = "kms.projectNumber")?;
    cel::add_overload!(env, fn service_agent_can_use: (CelString, CelString) -> Result<CelBool>, name = "kms.serviceAgentCanUse")?;
    cel::add_overload!(env, fn image_repository: (CelString) -> Result<CelBool>, name = "kms.imageRepository")?;
    Ok(())
}

fn available() -> CelBool {
    CelBool::from(false)
}

fn not_live(function: &str) -> ExecutionError {
    fail(function, cel_k8s::live::NOT_LIVE)
}

fn key(_: &CelString<'_>) -> Result<CelBool, ExecutionError> {
    Err(not_live("kms.key"))
}

fn project_number(_: &CelString<'_>) -> Result<CelBool, ExecutionError> {
    Err(not_live("kms.projectNumber"))
}

fn service_agent_can_use(_: &CelString<'_>, _: &CelString<'_>) -> Result<CelBool, ExecutionError> {
    Err(not_live("kms.serviceAgentCanUse"))
}

fn image_repository(_: &CelString<'_>) -> Result<CelBool, ExecutionError> {
    Err(not_live("kms.imageRepository"))
}
