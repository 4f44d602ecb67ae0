//! `kms`: Cloud KMS keys, their use by the Cloud Run service agent, and the CMEK key of an
//! image's Artifact Registry repository, read from the activation's live data
//! ([`crate::live::LiveData`]). cmek-gate's own extension, not Kubernetes': an environment
//! offers it only when its target has the extension ([`crate::profile::Extension::Kms`]), and a
//! policy asks for it with the annotation `cmek-gate.dev/cel-extensions: "kms"` (or `--cel-extensions kms`).
//!
//! The compiler turns every call of these functions into a live call the evaluator answers
//! from the activation's snapshot (they are never folded): the overloads registered here only
//! make the names known.

use crate::error::EvalError;
use crate::library::{Library, Style};
use crate::live::{Answer, KeyFacts, LiveData, LiveError, NOT_LIVE, PENDING, UNAVAILABLE};
use crate::value::{Duration, Map, Value};
use std::sync::Arc;

type Result<T> = std::result::Result<T, EvalError>;

/// Cost units one live call is charged (beyond its arguments), at run time and in estimates.
pub const LIVE_CALL_UNITS: u64 = 10;

/// The type names of the records the library returns, as the type checker names them.
pub const KEY_TYPE: &str = "kms.Key";
pub const REPOSITORY_TYPE: &str = "kms.Repository";

/// The member the Cloud Run service agent of a project number is.
pub fn service_agent(project_number: &str) -> String {
    format!("service-{project_number}@serverless-robot-prod.iam.gserviceaccount.com")
}

/// One of the library's functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KmsFunction {
    Available,
    Key,
    ProjectNumber,
    ServiceAgentCanUse,
    ImageRepository,
}

impl KmsFunction {
    pub const ALL: [KmsFunction; 5] = [
        KmsFunction::Available,
        KmsFunction::Key,
        KmsFunction::ProjectNumber,
        KmsFunction::ServiceAgentCanUse,
        KmsFunction::ImageRepository,
    ];

    pub fn name(self) -> &'static str {
        match self {
            KmsFunction::Available => "kms.available",
            KmsFunction::Key => "kms.key",
            KmsFunction::ProjectNumber => "kms.projectNumber",
            KmsFunction::ServiceAgentCanUse => "kms.serviceAgentCanUse",
            KmsFunction::ImageRepository => "kms.imageRepository",
        }
    }

    pub fn arity(self) -> usize {
        match self {
            KmsFunction::Available => 0,
            KmsFunction::Key | KmsFunction::ProjectNumber | KmsFunction::ImageRepository => 1,
            KmsFunction::ServiceAgentCanUse => 2,
        }
    }

    /// The function of a (namespaced) name and arity.
    pub fn of(name: &str, arity: usize) -> Option<KmsFunction> {
        KmsFunction::ALL
            .into_iter()
            .find(|f| f.name() == name && f.arity() == arity)
    }
}

fn placeholder<'a>(_: &[Value<'a>]) -> Result<Value<'a>> {
    Err(EvalError::new(NOT_LIVE))
}

/// Registers the names (the compiler turns their calls into live calls).
pub fn register(library: &mut Library) {
    for function in KmsFunction::ALL {
        library.add(
            function.name(),
            Style::Global,
            function.arity(),
            placeholder,
        );
    }
}

/// A name segment: letters, digits, `_` and `-`, as Google's resource names have.
pub fn is_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

/// The values of `labels` in `name` (`projects/{}/locations/{}/...`), or `None`. Each value is
/// a [`is_segment`] (no `/`, `.` or escapes), so it is safe inside the URL of a Google API call.
pub fn split_name<'n, const N: usize>(name: &'n str, labels: [&str; N]) -> Option<[&'n str; N]> {
    let mut parts = name.split('/');
    let mut values = [""; N];
    for (i, label) in labels.iter().enumerate() {
        if parts.next()? != *label {
            return None;
        }
        let value = parts.next()?;
        if !is_segment(value) {
            return None;
        }
        values[i] = value;
    }
    parts.next().is_none().then_some(values)
}

/// `projects/P/locations/L/keyRings/R/cryptoKeys/K` as `[P, L, R, K]`.
pub fn key_name_parts(name: &str) -> Option<[&str; 4]> {
    split_name(name, ["projects", "locations", "keyRings", "cryptoKeys"])
}

/// A project ID (6 to 30 lower-case letters, digits and hyphens, from a letter) or a number.
pub fn is_project(project: &str) -> bool {
    let id = (6..=30).contains(&project.len())
        && project.starts_with(|c: char| c.is_ascii_lowercase())
        && !project.ends_with('-')
        && project
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let number =
        !project.is_empty() && project.len() <= 20 && project.bytes().all(|b| b.is_ascii_digit());
    id || number
}

/// An Artifact Registry image reference that names no repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoRepository;

/// The Artifact Registry repository an image is in: `LOCATION-docker.pkg.dev/PROJECT/REPO/...`
/// gives `Some(projects/PROJECT/locations/LOCATION/repositories/REPO)`; another registry
/// `None`; an Artifact Registry host with a path that names no repository an error.
pub fn image_repository_name(image: &str) -> std::result::Result<Option<String>, NoRepository> {
    let mut parts = image.split('/');
    let host = parts.next().unwrap_or_default();
    let Some(location) = host.strip_suffix("-docker.pkg.dev") else {
        return Ok(None);
    };
    let (Some(project), Some(repository), Some(_image)) =
        (parts.next(), parts.next(), parts.next())
    else {
        return Err(NoRepository);
    };
    if !is_segment(location) || !is_project(project) || !is_segment(repository) {
        return Err(NoRepository);
    }
    Ok(Some(format!(
        "projects/{project}/locations/{location}/repositories/{repository}"
    )))
}

fn string_arg<'v>(function: KmsFunction, args: &'v [Value<'_>], i: usize) -> Result<&'v str> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s),
        _ => {
            let types: Vec<&str> = args.iter().map(|a| a.type_name()).collect();
            Err(EvalError::no_overload(function.name(), &types))
        }
    }
}

/// An answer's value, or the error that says why there is none.
fn answered<T>(function: KmsFunction, answer: Answer<T>) -> Result<Option<T>> {
    answer.map_err(|e| match e {
        LiveError::Pending => EvalError::new(format!("{}: {PENDING}", function.name())),
        LiveError::Failed(message) => {
            EvalError::new(format!("{}: {UNAVAILABLE}: {message}", function.name()))
        }
    })
}

fn record<'a>(fields: Vec<(&'static str, Value<'a>)>) -> Value<'a> {
    let entries: Vec<(Value<'a>, Value<'a>)> = fields
        .into_iter()
        .map(|(k, v)| (Value::string(k), v))
        .collect();
    Value::Map(Map::Owned(Arc::from(entries)))
}

fn key_record<'a>(name: &str, parts: [&str; 4], facts: Option<KeyFacts>) -> Result<Value<'a>> {
    let exists = facts.is_some();
    let facts = facts.unwrap_or_default();
    let rotation_period = match facts.rotation_period_seconds {
        Some(seconds) => Value::Duration(Duration(seconds.saturating_mul(1_000_000_000))),
        None => Value::Null,
    };
    let next_rotation_time = match facts.next_rotation_time.as_deref() {
        Some(text) => Value::Timestamp(crate::stdlib::parse_timestamp(text).map_err(|_| {
            EvalError::new("kms.key: Google gave a nextRotationTime that is not RFC 3339")
        })?),
        None => Value::Null,
    };
    Ok(record(vec![
        ("name", Value::string(name)),
        ("exists", Value::Bool(exists)),
        ("project", Value::string(parts[0])),
        ("location", Value::string(parts[1])),
        ("keyRing", Value::string(parts[2])),
        ("purpose", Value::string(facts.purpose)),
        ("state", Value::string(facts.state)),
        ("protectionLevel", Value::string(facts.protection_level)),
        ("rotationPeriod", rotation_period),
        ("nextRotationTime", next_rotation_time),
    ]))
}

/// Evaluates a call on its arguments with the activation's live data (`None`: not in live
/// mode).
pub fn call<'a>(
    function: KmsFunction,
    args: &[Value<'a>],
    live: Option<&dyn LiveData>,
) -> Result<Value<'a>> {
    if function == KmsFunction::Available {
        return Ok(Value::Bool(live.is_some()));
    }
    // Arguments are checked before live data is asked for, in or out of live mode.
    let name = string_arg(function, args, 0)?;
    let not_live = || EvalError::new(format!("{}: {NOT_LIVE}", function.name()));
    match function {
        KmsFunction::Available => unreachable!("answered above"),
        KmsFunction::Key => {
            let parts = key_name_parts(name).ok_or_else(|| {
                EvalError::new(
                    "kms.key: not a key name (projects/P/locations/L/keyRings/R/cryptoKeys/K)",
                )
            })?;
            let live = live.ok_or_else(not_live)?;
            let facts = answered(function, live.key(name))?;
            key_record(name, parts, facts)
        }
        KmsFunction::ProjectNumber => {
            if !is_project(name) {
                return Err(EvalError::new(
                    "kms.projectNumber: not a project ID or number",
                ));
            }
            let live = live.ok_or_else(not_live)?;
            let number = answered(function, live.project_number(name))?;
            Ok(Value::string(number.unwrap_or_default()))
        }
        KmsFunction::ServiceAgentCanUse => {
            let project = string_arg(function, args, 1)?;
            if key_name_parts(name).is_none() {
                return Err(EvalError::new(
                    "kms.serviceAgentCanUse: the first argument is not a key name",
                ));
            }
            if !is_project(project) {
                return Err(EvalError::new(
                    "kms.serviceAgentCanUse: the second argument is not a project ID or number",
                ));
            }
            let live = live.ok_or_else(not_live)?;
            let Some(number) = answered(function, live.project_number(project))? else {
                return Ok(Value::Bool(false));
            };
            let can_use = answered(function, live.service_agent_can_use(name, &number))?;
            Ok(Value::Bool(can_use.unwrap_or(false)))
        }
        KmsFunction::ImageRepository => {
            let repository = image_repository_name(name).map_err(|NoRepository| {
                EvalError::new("kms.imageRepository: an Artifact Registry image without a repository (LOCATION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE)")
            })?;
            let Some(repository) = repository else {
                return Ok(record(vec![
                    ("artifactRegistry", Value::Bool(false)),
                    ("name", Value::string("")),
                    ("exists", Value::Bool(false)),
                    ("cmek", Value::Bool(false)),
                    ("kmsKeyName", Value::string("")),
                ]));
            };
            let live = live.ok_or_else(not_live)?;
            let facts = answered(function, live.repository(&repository))?;
            let exists = facts.is_some();
            let key = facts.map(|f| f.kms_key_name).unwrap_or_default();
            Ok(record(vec![
                ("artifactRegistry", Value::Bool(true)),
                ("name", Value::string(repository)),
                ("exists", Value::Bool(exists)),
                ("cmek", Value::Bool(!key.is_empty())),
                ("kmsKeyName", Value::string(key)),
            ]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::libs::support::testing::*;
    use std::collections::HashMap;

    const KEY: &str = "projects/keys-1/locations/europe-west1/keyRings/r/cryptoKeys/k";

    #[derive(Debug, Default)]
    struct Fixed {
        keys: HashMap<&'static str, Answer<KeyFacts>>,
        access: Option<Answer<bool>>,
    }

    impl LiveData for Fixed {
        fn key(&self, name: &str) -> Answer<KeyFacts> {
            self.keys.get(name).cloned().unwrap_or(Ok(None))
        }
        fn project_number(&self, project: &str) -> Answer<String> {
            match project {
                "missing-project" => Ok(None),
                "my-project" => Ok(Some("123456789012".into())),
                number => Ok(Some(number.into())),
            }
        }
        fn service_agent_can_use(&self, _: &str, number: &str) -> Answer<bool> {
            assert_eq!(number, "123456789012");
            self.access.clone().unwrap_or(Ok(Some(false)))
        }
        fn repository(&self, name: &str) -> Answer<crate::live::RepositoryFacts> {
            Ok(match name {
                "projects/p-images/locations/europe-west1/repositories/cmek" => {
                    Some(crate::live::RepositoryFacts {
                        kms_key_name: KEY.into(),
                    })
                }
                "projects/p-images/locations/europe-west1/repositories/plain" => {
                    Some(Default::default())
                }
                _ => None,
            })
        }
    }

    fn field<'a>(value: &Value<'a>, name: &str) -> Value<'a> {
        let Value::Map(Map::Owned(entries)) = value else {
            panic!("a record: {value:?}")
        };
        entries
            .iter()
            .find(|(k, _)| matches!(k, Value::String(s) if &**s == name))
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no field {name}"))
    }

    #[test]
    fn outside_live_mode_only_available_answers() {
        check(
            "available",
            call(KmsFunction::Available, &[], None),
            b(false),
        );
        check_err("key", call(KmsFunction::Key, &[s(KEY)], None), NOT_LIVE);
        check_err(
            "bad name first",
            call(KmsFunction::Key, &[s("k")], None),
            "not a key name",
        );
        check_err(
            "wrong type",
            call(KmsFunction::Key, &[i(1)], None),
            "no matching overload for 'kms.key'",
        );
        check_err(
            "can use",
            call(
                KmsFunction::ServiceAgentCanUse,
                &[s(KEY), s("my-project")],
                None,
            ),
            NOT_LIVE,
        );
    }

    #[test]
    fn keys_read_from_the_snapshot() {
        let mut live = Fixed::default();
        live.keys.insert(
            KEY,
            Ok(Some(KeyFacts {
                purpose: "ENCRYPT_DECRYPT".into(),
                state: "ENABLED".into(),
                protection_level: "HSM".into(),
                rotation_period_seconds: Some(7_776_000),
                next_rotation_time: Some("2027-01-01T00:00:00Z".into()),
            })),
        );
        let key = call(KmsFunction::Key, &[s(KEY)], Some(&live)).unwrap();
        check("exists", Ok(field(&key, "exists")), b(true));
        check("state", Ok(field(&key, "state")), s("ENABLED"));
        check("location", Ok(field(&key, "location")), s("europe-west1"));
        check("keyRing", Ok(field(&key, "keyRing")), s("r"));
        assert!(matches!(
            field(&key, "rotationPeriod"),
            Value::Duration(Duration(n)) if n == 7_776_000 * 1_000_000_000
        ));
        assert!(matches!(
            field(&key, "nextRotationTime"),
            Value::Timestamp(_)
        ));
        let other = KEY.replace("cryptoKeys/k", "cryptoKeys/other");
        let missing = call(KmsFunction::Key, &[s(&other)], Some(&live)).unwrap();
        check("missing", Ok(field(&missing, "exists")), b(false));
        check("no state", Ok(field(&missing, "state")), s(""));
        check(
            "no rotation",
            Ok(field(&missing, "rotationPeriod")),
            Value::Null,
        );
        live.keys.insert(KEY, Err(LiveError::Pending));
        check_err(
            "pending",
            call(KmsFunction::Key, &[s(KEY)], Some(&live)),
            "kms.key: live data pending",
        );
        live.keys
            .insert(KEY, Err(LiveError::Failed("cloudkms: timeout".into())));
        check_err(
            "failed",
            call(KmsFunction::Key, &[s(KEY)], Some(&live)),
            "kms.key: live data unavailable: cloudkms: timeout",
        );
    }

    #[test]
    fn service_agent_access_goes_through_the_project_number() {
        let mut live = Fixed::default();
        let can = |live: &Fixed, project: &str| {
            call(
                KmsFunction::ServiceAgentCanUse,
                &[s(KEY), s(project)],
                Some(live),
            )
        };
        check("denied", can(&live, "my-project"), b(false));
        live.access = Some(Ok(Some(true)));
        check("by id", can(&live, "my-project"), b(true));
        check("by number", can(&live, "123456789012"), b(true));
        check("no such project", can(&live, "missing-project"), b(false));
        check_err(
            "bad project",
            can(&live, "A!"),
            "not a project ID or number",
        );
        check(
            "number",
            call(KmsFunction::ProjectNumber, &[s("my-project")], Some(&live)),
            s("123456789012"),
        );
    }

    #[test]
    fn image_repositories() {
        let live = Fixed::default();
        let repo = |image: &str| call(KmsFunction::ImageRepository, &[s(image)], Some(&live));
        let cmek = repo("europe-west1-docker.pkg.dev/p-images/cmek/app:1").unwrap();
        check("ar", Ok(field(&cmek, "artifactRegistry")), b(true));
        check("cmek", Ok(field(&cmek, "cmek")), b(true));
        check("key", Ok(field(&cmek, "kmsKeyName")), s(KEY));
        let plain = repo("europe-west1-docker.pkg.dev/p-images/plain/a/b@sha256:00").unwrap();
        check("plain", Ok(field(&plain, "cmek")), b(false));
        check("plain exists", Ok(field(&plain, "exists")), b(true));
        let gone = repo("europe-west1-docker.pkg.dev/p-images/gone/app").unwrap();
        check("gone", Ok(field(&gone, "exists")), b(false));
        let docker = repo("docker.io/library/nginx:1").unwrap();
        check(
            "other registry",
            Ok(field(&docker, "artifactRegistry")),
            b(false),
        );
        check_err(
            "no repository",
            repo("europe-west1-docker.pkg.dev/p-images"),
            "without a repository",
        );
        // Another registry needs no live data.
        check(
            "offline",
            call(KmsFunction::ImageRepository, &[s("gcr.io/p/app")], None)
                .map(|v| field(&v, "artifactRegistry")),
            b(false),
        );
    }

    #[test]
    fn names() {
        for (name, ok) in [
            (KEY, true),
            (
                "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1",
                false,
            ),
            ("projects/p/locations/l/keyRings/r/cryptoKeys/", false),
            ("projects/p/locations/l/keyRings/../cryptoKeys/k", false),
            ("", false),
        ] {
            assert_eq!(key_name_parts(name).is_some(), ok, "{name}");
        }
        assert_eq!(
            service_agent("42"),
            "service-42@serverless-robot-prod.iam.gserviceaccount.com"
        );
    }
}
