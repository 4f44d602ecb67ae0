//! The gate's settings a loaded `CmekGateParams` may carry beside the policies' parameters:
//! `spec.kubernetesVersion`, the Kubernetes release the policies target (the command line's
//! `--kubernetes-version` wins over it). Pure.

use super::PolicyError;
use crate::manifest::Document;
use cel_k8s::KubernetesVersion;

/// The field of a `CmekGateParams` naming the target release.
pub const KUBERNETES_VERSION_FIELD: &str = "spec.kubernetesVersion";

/// The release the `CmekGateParams` objects among `documents` (source name, document) name in
/// `spec.kubernetesVersion`: those of the `overrides` (the `--params` files) when one of them
/// names one, else those of the policy files. Objects that name different releases, or one
/// that is no supported release, are an error naming the file and line.
pub fn kubernetes_version_setting<'d>(
    documents: impl Iterator<Item = (&'d str, &'d Document)>,
    overrides: impl Iterator<Item = (&'d str, &'d Document)>,
) -> Result<Option<KubernetesVersion>, PolicyError> {
    match agreed(overrides)? {
        Some(version) => Ok(Some(version)),
        None => agreed(documents),
    }
}

fn agreed<'d>(
    documents: impl Iterator<Item = (&'d str, &'d Document)>,
) -> Result<Option<KubernetesVersion>, PolicyError> {
    let mut found: Option<(KubernetesVersion, String)> = None;
    for (source_name, doc) in documents {
        if doc.kind != "CmekGateParams" || doc.group() != "cmek-gate.dev" {
            continue;
        }
        let path = ["spec", "kubernetesVersion"];
        let Some(node) = doc.root.get(path[0]).and_then(|spec| spec.get(path[1])) else {
            continue;
        };
        let line = doc.root.deepest(&path).1.line;
        let at = format!("{source_name}:{line}");
        let invalid = |message: String| PolicyError::Invalid {
            source_name: source_name.to_owned(),
            line,
            message: format!("CmekGateParams, {KUBERNETES_VERSION_FIELD}: {message}"),
        };
        let text = node
            .scalar_text()
            .ok_or_else(|| invalid("must be a string such as \"1.33\"".into()))?;
        let version: KubernetesVersion = text.parse().map_err(|e| invalid(format!("{e}")))?;
        match &found {
            Some((other, other_at)) if *other != version => {
                return Err(invalid(format!(
                    "{version} differs from {other} set at {other_at}"
                )))
            }
            Some(_) => {}
            None => found = Some((version, at)),
        }
    }
    Ok(found.map(|(version, _)| version))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{parse_documents, ReadLimits};

    fn params(version: &str) -> String {
        format!(
            "apiVersion: cmek-gate.dev/v1alpha1\nkind: CmekGateParams\nmetadata: {{name: default}}\nspec:\n  kubernetesVersion: {version}\n"
        )
    }

    fn setting(files: &[String], overrides: &[String]) -> Result<Option<String>, String> {
        let parse = |texts: &[String]| -> Vec<(String, Document)> {
            texts
                .iter()
                .enumerate()
                .flat_map(|(i, t)| {
                    parse_documents(t, &ReadLimits::default())
                        .unwrap()
                        .into_iter()
                        .map(move |d| (format!("f{i}.yaml"), d))
                })
                .collect()
        };
        let (files, overrides) = (parse(files), parse(overrides));
        kubernetes_version_setting(
            files.iter().map(|(n, d)| (n.as_str(), d)),
            overrides.iter().map(|(n, d)| (n.as_str(), d)),
        )
        .map(|v| v.map(|v| v.to_string()))
        .map_err(|e| e.to_string())
    }

    #[test]
    fn the_params_name_the_target_or_say_what_is_wrong() {
        let none = "apiVersion: cmek-gate.dev/v1alpha1\nkind: CmekGateParams\nmetadata: {name: default}\nspec: {}\n".to_owned();
        let other_kind = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\nspec: {kubernetesVersion: '1.31'}\n".to_owned();
        // Policy files, params files, and the release or the error.
        type Case = (
            Vec<String>,
            Vec<String>,
            Result<Option<&'static str>, &'static str>,
        );
        let cases: Vec<Case> = vec![
            (vec![], vec![], Ok(None)),
            (vec![none.clone(), other_kind], vec![], Ok(None)),
            (vec![params("'1.33'")], vec![], Ok(Some("1.33"))),
            (vec![params("1.33")], vec![], Ok(Some("1.33"))),
            (vec![params("'1.33'")], vec![params("'1.31'")], Ok(Some("1.31"))),
            (vec![params("'1.33'")], vec![none], Ok(Some("1.33"))),
            (vec![params("'1.33'"), params("'1.33'")], vec![], Ok(Some("1.33"))),
            (
                vec![params("'1.33'"), params("'1.34'")],
                vec![],
                Err("f1.yaml:5: CmekGateParams, spec.kubernetesVersion: 1.34 differs from 1.33 set at f0.yaml:5"),
            ),
            (
                vec![params("'1.29'")],
                vec![],
                Err("f0.yaml:5: CmekGateParams, spec.kubernetesVersion: Kubernetes 1.29 is not supported: the gate targets 1.30 to 1.37"),
            ),
            (
                vec![params("[1]")],
                vec![],
                Err("f0.yaml:5: CmekGateParams, spec.kubernetesVersion: must be a string such as \"1.33\""),
            ),
        ];
        for (files, overrides, expected) in cases {
            assert_eq!(
                setting(&files, &overrides),
                expected
                    .map(|v| v.map(str::to_owned))
                    .map_err(str::to_owned),
                "{files:?} {overrides:?}"
            );
        }
    }
}
