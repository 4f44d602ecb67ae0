//! IAM policies as Google returns them (`getIamPolicy` on a key, a key ring or a project) and
//! the one decision made over them: may the Cloud Run service agent use the key? Pure.
//!
//! A principal can use a key when, on the key, its key ring or its project, it holds roles that
//! together carry `cloudkms.cryptoKeyVersions.useToEncrypt` and `useToDecrypt`. The roles
//! recognised are [`KNOWN_ROLES`]; any other role (custom roles, basic roles such as
//! `roles/owner` and `roles/editor`) is not counted, so the answer errs towards "cannot use".
//! A binding with a `condition` is not counted either: conditions are not evaluated here.

use serde::Deserialize;

/// `cloudkms.cryptoKeyVersions.useToEncrypt`.
pub const USE_TO_ENCRYPT: &str = "cloudkms.cryptoKeyVersions.useToEncrypt";
/// `cloudkms.cryptoKeyVersions.useToDecrypt`.
pub const USE_TO_DECRYPT: &str = "cloudkms.cryptoKeyVersions.useToDecrypt";

/// The role the Cloud Run documentation asks for.
pub const ENCRYPTER_DECRYPTER: &str = "roles/cloudkms.cryptoKeyEncrypterDecrypter";

/// Predefined roles known to carry the permissions to use a key, and which of them:
/// `(role, useToEncrypt, useToDecrypt)`.
pub const KNOWN_ROLES: &[(&str, bool, bool)] = &[
    (ENCRYPTER_DECRYPTER, true, true),
    ("roles/cloudkms.cryptoKeyEncrypter", true, false),
    ("roles/cloudkms.cryptoKeyDecrypter", false, true),
];

/// An IAM policy (the `Policy` schema of the discovery documents; only what is read).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    #[serde(default)]
    pub version: i64,
    #[serde(default)]
    pub bindings: Vec<Binding>,
    #[serde(default)]
    pub etag: String,
}

/// One binding: a role, its members, and an optional condition.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Binding {
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub members: Vec<String>,
    /// An IAM condition (`{expression, title, ...}`); its presence is what matters here.
    #[serde(default)]
    pub condition: Option<serde_json::Value>,
}

/// Where a policy is attached, from the key outwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Key,
    KeyRing,
    Project,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Key => "key",
            Level::KeyRing => "key ring",
            Level::Project => "project",
        }
    }
}

/// A role held by the principal at a level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub level: Level,
    pub role: String,
}

/// The answer: whether the principal can use the key, and the grants that made it so.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyAccess {
    pub can_encrypt: bool,
    pub can_decrypt: bool,
    /// Unconditional bindings of recognised roles that name the principal.
    pub grants: Vec<Grant>,
    /// Bindings of recognised roles that name the principal but carry a condition (not counted).
    pub conditional: Vec<Grant>,
}

impl KeyAccess {
    pub fn can_use(&self) -> bool {
        self.can_encrypt && self.can_decrypt
    }
}

/// The Cloud Run service agent of a project, as an IAM member.
pub fn cloud_run_service_agent(project_number: &str) -> String {
    format!("serviceAccount:service-{project_number}@serverless-robot-prod.iam.gserviceaccount.com")
}

/// Whether a binding's member names the principal (`serviceAccount:EMAIL`, compared without
/// regard to case), or everyone authenticated.
fn member_matches(member: &str, principal: &str) -> bool {
    member.eq_ignore_ascii_case(principal)
        || member == "allUsers"
        || member == "allAuthenticatedUsers"
}

fn known_role(role: &str) -> Option<(bool, bool)> {
    KNOWN_ROLES
        .iter()
        .find(|(name, _, _)| *name == role)
        .map(|(_, e, d)| (*e, *d))
}

/// Decides whether `principal` (an IAM member such as [`cloud_run_service_agent`]) can use the
/// key, given the policies of the key, its ring and its project (any may be missing).
pub fn key_access(principal: &str, policies: &[(Level, &Policy)]) -> KeyAccess {
    let mut access = KeyAccess::default();
    for (level, policy) in policies {
        for binding in &policy.bindings {
            let Some((encrypt, decrypt)) = known_role(&binding.role) else {
                continue;
            };
            if !binding.members.iter().any(|m| member_matches(m, principal)) {
                continue;
            }
            let grant = Grant {
                level: *level,
                role: binding.role.clone(),
            };
            if binding.condition.is_some() {
                access.conditional.push(grant);
                continue;
            }
            access.can_encrypt |= encrypt;
            access.can_decrypt |= decrypt;
            access.grants.push(grant);
        }
    }
    access
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const AGENT: &str = "serviceAccount:service-123@serverless-robot-prod.iam.gserviceaccount.com";

    fn policy(bindings: serde_json::Value) -> Policy {
        serde_json::from_value(json!({"version": 1, "etag": "BwX=", "bindings": bindings})).unwrap()
    }

    #[test]
    fn the_service_agent_member_is_spelled_as_iam_wants_it() {
        assert_eq!(cloud_run_service_agent("123"), AGENT);
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn key_access_over_key_ring_and_project_policies() {
        let granted = json!([{"role": ENCRYPTER_DECRYPTER, "members": [AGENT]}]);
        let other_member = json!([{"role": ENCRYPTER_DECRYPTER,
            "members": ["serviceAccount:service-999@serverless-robot-prod.iam.gserviceaccount.com"]}]);
        let conditional = json!([{"role": ENCRYPTER_DECRYPTER, "members": [AGENT],
            "condition": {"expression": "request.time < timestamp('2030-01-01T00:00:00Z')", "title": "t"}}]);
        let encrypter = json!([{"role": "roles/cloudkms.cryptoKeyEncrypter", "members": [AGENT]}]);
        let decrypter = json!([{"role": "roles/cloudkms.cryptoKeyDecrypter", "members": [AGENT]}]);
        let owner = json!([{"role": "roles/owner", "members": [AGENT]}]);
        let viewer = json!([{"role": "roles/cloudkms.viewer", "members": [AGENT]}]);
        let upper = json!([{"role": ENCRYPTER_DECRYPTER,
            "members": ["serviceAccount:Service-123@Serverless-Robot-Prod.iam.gserviceaccount.com"]}]);
        let everyone = json!([{"role": ENCRYPTER_DECRYPTER, "members": ["allAuthenticatedUsers"]}]);
        let deleted = json!([{"role": ENCRYPTER_DECRYPTER,
            "members": [format!("deleted:{AGENT}?uid=1")]}]);
        let empty = json!([]);
        // (case, key, ring, project, can use, counted grant levels, conditional count)
        let cases: Vec<(
            &str,
            &serde_json::Value,
            &serde_json::Value,
            &serde_json::Value,
            bool,
            Vec<Level>,
            usize,
        )> = vec![
            (
                "on the key",
                &granted,
                &empty,
                &empty,
                true,
                vec![Level::Key],
                0,
            ),
            (
                "on the ring",
                &empty,
                &granted,
                &empty,
                true,
                vec![Level::KeyRing],
                0,
            ),
            (
                "on the project",
                &empty,
                &empty,
                &granted,
                true,
                vec![Level::Project],
                0,
            ),
            ("nowhere", &empty, &empty, &empty, false, vec![], 0),
            (
                "another project's agent",
                &other_member,
                &other_member,
                &other_member,
                false,
                vec![],
                0,
            ),
            (
                "only conditionally",
                &conditional,
                &empty,
                &empty,
                false,
                vec![],
                1,
            ),
            (
                "encrypter alone",
                &encrypter,
                &empty,
                &empty,
                false,
                vec![Level::Key],
                0,
            ),
            (
                "decrypter alone",
                &empty,
                &decrypter,
                &empty,
                false,
                vec![Level::KeyRing],
                0,
            ),
            (
                "encrypter and decrypter at two levels",
                &encrypter,
                &empty,
                &decrypter,
                true,
                vec![Level::Key, Level::Project],
                0,
            ),
            (
                "basic role owner is not counted",
                &empty,
                &empty,
                &owner,
                false,
                vec![],
                0,
            ),
            (
                "viewer is not enough",
                &viewer,
                &empty,
                &empty,
                false,
                vec![],
                0,
            ),
            (
                "member compared without case",
                &upper,
                &empty,
                &empty,
                true,
                vec![Level::Key],
                0,
            ),
            (
                "allAuthenticatedUsers includes the agent",
                &everyone,
                &empty,
                &empty,
                true,
                vec![Level::Key],
                0,
            ),
            (
                "a deleted member is not the agent",
                &deleted,
                &empty,
                &empty,
                false,
                vec![],
                0,
            ),
        ];
        for (case, key, ring, project, can_use, levels, conditional_count) in cases {
            let (key, ring, project) = (
                policy(key.clone()),
                policy(ring.clone()),
                policy(project.clone()),
            );
            let access = key_access(
                AGENT,
                &[
                    (Level::Key, &key),
                    (Level::KeyRing, &ring),
                    (Level::Project, &project),
                ],
            );
            assert_eq!(access.can_use(), can_use, "{case}: {access:?}");
            let got: Vec<Level> = access.grants.iter().map(|g| g.level).collect();
            assert_eq!(got, levels, "{case}");
            assert_eq!(access.conditional.len(), conditional_count, "{case}");
        }
    }

    #[test]
    fn a_policy_without_bindings_parses_as_empty() {
        let policy: Policy = serde_json::from_str(r#"{"version": 1, "etag": "ACAB"}"#).unwrap();
        assert!(policy.bindings.is_empty());
        assert!(!key_access(AGENT, &[(Level::Key, &policy)]).can_use());
    }
}
