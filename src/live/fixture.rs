//! Live data written out, for policy test suites (`live:` in a `PolicyTest`) and tests: Google's
//! own resource shapes (a `CryptoKey`, IAM `Policy`s, a `Repository`), answered as the Google
//! client would answer them, with the same IAM decision. Pure.

use super::snapshot::{Fact, Question, Reply};
use crate::google::iam::{self, Level, Policy};
use crate::google::resources::{CryptoKey, KeyName, Repository};
use serde::Deserialize;
use std::collections::BTreeMap;

/// What Google would answer. A resource not listed does not exist (NOT_FOUND).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fixture {
    /// Keys by name, as `cryptoKeys.get` returns them.
    #[serde(default)]
    pub keys: BTreeMap<String, CryptoKey>,
    /// Project numbers by project ID (a number needs no entry).
    #[serde(default)]
    pub projects: BTreeMap<String, String>,
    /// IAM policies by resource: a key's name, a key ring's
    /// (`projects/P/locations/L/keyRings/R`), or a project's (`projects/P`).
    #[serde(default)]
    pub iam_policies: BTreeMap<String, Policy>,
    /// Artifact Registry repositories by name, as `repositories.get` returns them.
    #[serde(default)]
    pub repositories: BTreeMap<String, Repository>,
    /// Every read fails, as when Google cannot be reached.
    #[serde(default)]
    pub unreachable: bool,
}

impl Fixture {
    /// The answer to a question.
    pub fn reply(&self, question: &Question) -> Reply {
        if self.unreachable {
            return Err(format!(
                "{}: no answer: the fixture says Google cannot be reached",
                super::api_of(question)
            ));
        }
        Ok(match question {
            Question::Key(name) => self.keys.get(name).map(|k| Fact::Key(super::key_facts(k))),
            Question::ProjectNumber(project) => {
                if project.bytes().all(|b| b.is_ascii_digit()) {
                    Some(Fact::ProjectNumber(project.clone()))
                } else {
                    self.projects
                        .get(project)
                        .map(|n| Fact::ProjectNumber(n.clone()))
                }
            }
            Question::ServiceAgentAccess {
                key,
                project_number,
            } => {
                let name = KeyName::parse(key).map_err(|e| e.to_string())?;
                let empty = Policy::default();
                let policy = |resource: &str| self.iam_policies.get(resource).unwrap_or(&empty);
                let access = iam::key_access(
                    &iam::cloud_run_service_agent(project_number),
                    &[
                        (Level::Key, policy(&name.path())),
                        (Level::KeyRing, policy(&name.key_ring_path())),
                        (
                            Level::Project,
                            policy(&format!("projects/{}", name.project)),
                        ),
                    ],
                );
                Some(Fact::ServiceAgentAccess(access.can_use()))
            }
            Question::Repository(name) => self
                .repositories
                .get(name)
                .map(|r| Fact::Repository(super::repository_facts(r))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "projects/keys-1/locations/europe-west1/keyRings/r/cryptoKeys/k";

    fn fixture(yaml_json: serde_json::Value) -> Fixture {
        serde_json::from_value(yaml_json).unwrap()
    }

    #[test]
    fn iam_on_the_key_the_ring_or_the_project_grants_use() {
        let agent = "serviceAccount:service-42@serverless-robot-prod.iam.gserviceaccount.com";
        let binding = serde_json::json!({"bindings": [{
            "role": "roles/cloudkms.cryptoKeyEncrypterDecrypter", "members": [agent]}]});
        let access = |policies: serde_json::Value| {
            let f = fixture(serde_json::json!({ "iamPolicies": policies }));
            f.reply(&Question::ServiceAgentAccess {
                key: KEY.into(),
                project_number: "42".into(),
            })
        };
        let granted = Ok(Some(Fact::ServiceAgentAccess(true)));
        let denied = Ok(Some(Fact::ServiceAgentAccess(false)));
        assert_eq!(access(serde_json::json!({ KEY: binding })), granted);
        assert_eq!(
            access(
                serde_json::json!({"projects/keys-1/locations/europe-west1/keyRings/r": binding})
            ),
            granted
        );
        assert_eq!(
            access(serde_json::json!({"projects/keys-1": binding})),
            granted
        );
        assert_eq!(
            access(serde_json::json!({"projects/other": binding})),
            denied
        );
        assert_eq!(access(serde_json::json!({})), denied);
    }

    #[test]
    fn keys_projects_and_an_unreachable_google() {
        let f = fixture(serde_json::json!({
            "keys": {KEY: {"purpose": "ENCRYPT_DECRYPT", "primary": {"state": "DISABLED"}}},
            "projects": {"my-project": "42"},
        }));
        let Ok(Some(Fact::Key(key))) = f.reply(&Question::Key(KEY.into())) else {
            panic!("a key")
        };
        assert_eq!(key.state, "DISABLED");
        assert_eq!(f.reply(&Question::Key("other".into())), Ok(None));
        assert_eq!(
            f.reply(&Question::ProjectNumber("my-project".into())),
            Ok(Some(Fact::ProjectNumber("42".into())))
        );
        assert_eq!(
            f.reply(&Question::ProjectNumber("7".into())),
            Ok(Some(Fact::ProjectNumber("7".into())))
        );
        let down = fixture(serde_json::json!({"unreachable": true}));
        let error = down.reply(&Question::Key(KEY.into())).unwrap_err();
        assert!(error.starts_with("cloudkms: no answer"), "{error}");
        let unknown = serde_json::from_value::<Fixture>(serde_json::json!({"kees": {}}));
        assert!(unknown.is_err());
    }
}
