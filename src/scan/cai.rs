//! Cloud Asset Inventory (CAI) as input to `scan`: an organisation's or folder's Cloud Run
//! resources from one export or search, turned into the manifests the policies read. Pure.
//!
//! Three shapes are read, told apart by [`detect`]:
//!
//! - **export**: `gcloud asset export --content-type=resource` to Cloud Storage writes
//!   newline-delimited JSON, one `google.cloud.asset.v1.Asset` per line, with the proto's
//!   field names (`asset_type`, `resource.data`, `resource.location`);
//! - **list**: `gcloud asset list --content-type=resource --format=json`, a JSON array of the
//!   same assets with JSON names (`assetType`);
//! - **search**: `gcloud asset search-all-resources --read-mask='*' --format=json`, a JSON
//!   array of `ResourceSearchResult`s whose `versionedResources` hold the resource.
//!
//! A Cloud Run asset's `resource.data` is the resource as its API version returns it: the v1
//! (Knative) object, `apiVersion` and `kind` included, or the v2 REST resource, which is mapped
//! onto the v1 shape through the shape table as the API gate maps v2 bodies
//! ([`crate::cloudrun_api::v2_to_v1`]). The region comes from the asset's `location` when the
//! object does not say it. Assets of other types are counted, not judged.

use crate::cloudrun_api::{v2_to_v1, ApiVersion, Write};
use serde_json::{json, Value};
use std::io::BufRead;

/// How a text holds assets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaiFormat {
    /// Newline-delimited `Asset`s (an export to Cloud Storage).
    Export,
    /// A JSON array of `Asset`s (`gcloud asset list --format=json`).
    List,
    /// A JSON array of `ResourceSearchResult`s (`gcloud asset search-all-resources`).
    Search,
}

impl CaiFormat {
    pub fn describe(self) -> &'static str {
        match self {
            CaiFormat::Export => "a Cloud Asset Inventory export (newline-delimited JSON)",
            CaiFormat::List => "a Cloud Asset Inventory asset list (JSON)",
            CaiFormat::Search => "a Cloud Asset Inventory search (JSON)",
        }
    }
}

/// Why a CAI text could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CaiError {
    #[error("line {line}: not a JSON asset: {message}")]
    Line { line: usize, message: String },
    #[error("not JSON: {0}")]
    Json(String),
    #[error("asset {index} ({name}): {message}")]
    Asset {
        index: usize,
        name: String,
        message: String,
    },
}

/// The Cloud Run resources of a CAI text as v1 manifests, each with the line its asset starts
/// on (an export's line; for a JSON array, 0: the array's elements have no line of their own),
/// and the number of assets of other types.
#[derive(Debug, Default, PartialEq)]
pub struct Assets {
    pub manifests: Vec<(usize, Value)>,
    pub other_assets: usize,
}

/// Whether a text is CAI output, and in which shape: an export's first line, or a JSON array's
/// first element, is an object whose `name` is a full resource name (`//service/...`) and which
/// has an asset type.
pub fn detect(text: &str) -> Option<CaiFormat> {
    let text = text.trim_start_matches('\u{feff}').trim_start();
    if text.starts_with('{') {
        let first = text.lines().next()?;
        let asset: Value = serde_json::from_str(first).ok()?;
        return is_asset(&asset).then_some(CaiFormat::Export);
    }
    if !text.starts_with('[') {
        return None;
    }
    // The first element alone, without reading the whole array: a streaming deserializer
    // stops after it.
    let mut elements = serde_json::Deserializer::from_str(&text[1..]).into_iter::<Value>();
    let first = elements.next()?.ok()?;
    if !is_asset(&first) {
        return None;
    }
    if first.get("versionedResources").is_some() || first.get("resource").is_none() {
        Some(CaiFormat::Search)
    } else {
        Some(CaiFormat::List)
    }
}

fn is_asset(value: &Value) -> bool {
    let full_name = value
        .get("name")
        .and_then(Value::as_str)
        .is_some_and(|n| n.starts_with("//"));
    full_name && asset_type(value).is_some()
}

fn asset_type(value: &Value) -> Option<&str> {
    value
        .get("assetType")
        .or_else(|| value.get("asset_type"))
        .and_then(Value::as_str)
}

/// Reads the assets of a text in the shape [`detect`] found.
pub fn read(text: &str, format: CaiFormat) -> Result<Assets, CaiError> {
    let text = text.trim_start_matches('\u{feff}');
    let mut manifests = Vec::new();
    let other_assets = read_each(
        text.as_bytes(),
        format,
        usize::MAX,
        &mut |line, manifest| {
            manifests.push((line, manifest));
        },
    )?;
    Ok(Assets {
        manifests,
        other_assets,
    })
}

/// Reads the assets of `reader` in the shape [`detect`] found, giving each Cloud Run resource's
/// manifest to `each` as soon as it is read, with its line (an export's line; 0 in a JSON array),
/// and returns the number of assets of other types. Only one asset is held at a time: an export's
/// line (at most `max_line_bytes`), or an array's element. The first error ends the reading.
pub fn read_each(
    mut reader: impl BufRead,
    format: CaiFormat,
    max_line_bytes: usize,
    each: &mut dyn FnMut(usize, Value),
) -> Result<usize, CaiError> {
    let mut other_assets = 0;
    let mut take = |line: usize, index: usize, asset: &Value| -> Result<(), CaiError> {
        match manifest_of(index, asset, format)? {
            Some(manifest) => each(line, manifest),
            None => other_assets += 1,
        }
        Ok(())
    };
    match format {
        CaiFormat::Export => {
            let mut text = String::new();
            for k in 0.. {
                text.clear();
                let limit = max_line_bytes.saturating_add(1) as u64;
                let read = std::io::Read::take(&mut reader, limit)
                    .read_line(&mut text)
                    .map_err(|e| CaiError::Line {
                        line: k + 1,
                        message: if e.kind() == std::io::ErrorKind::InvalidData {
                            "not UTF-8".to_owned()
                        } else {
                            e.to_string()
                        },
                    })?;
                if read == 0 {
                    break;
                }
                if read > max_line_bytes {
                    return Err(CaiError::Line {
                        line: k + 1,
                        message: format!("longer than {max_line_bytes} bytes"),
                    });
                }
                // As `str::lines` gives it: without its line break.
                let line = text.strip_suffix('\n').unwrap_or(&text);
                let line = line.strip_suffix('\r').unwrap_or(line);
                let line = line.trim_start_matches('\u{feff}');
                if line.trim().is_empty() {
                    continue;
                }
                let asset: Value = serde_json::from_str(line).map_err(|e| CaiError::Line {
                    line: k + 1,
                    message: e.to_string(),
                })?;
                take(k + 1, k, &asset)?;
            }
        }
        CaiFormat::List | CaiFormat::Search => {
            let mut failed = None;
            let mut deserializer = serde_json::Deserializer::from_reader(reader);
            let read = serde::Deserializer::deserialize_seq(
                &mut deserializer,
                Elements {
                    each: &mut |k, asset: Value| take(0, k, &asset).map_err(|e| failed = Some(e)),
                },
            )
            .and_then(|()| deserializer.end());
            if let Some(error) = failed {
                return Err(error);
            }
            read.map_err(|e| CaiError::Json(e.to_string()))?;
        }
    }
    Ok(other_assets)
}

/// The elements of a JSON array, given one at a time (the array is not held).
struct Elements<'f> {
    each: &'f mut dyn FnMut(usize, Value) -> Result<(), ()>,
}

impl<'de> serde::de::Visitor<'de> for Elements<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON array of assets")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut k = 0;
        while let Some(asset) = seq.next_element::<Value>()? {
            (self.each)(k, asset)
                .map_err(|()| serde::de::Error::custom("an asset could not be read"))?;
            k += 1;
        }
        Ok(())
    }
}

/// The Cloud Run asset types and the v1 API group and kind each becomes.
const CLOUD_RUN_TYPES: &[(&str, &str, &str)] = &[
    (
        "run.googleapis.com/Service",
        "serving.knative.dev",
        "Service",
    ),
    ("run.googleapis.com/Job", "run.googleapis.com", "Job"),
    (
        "run.googleapis.com/WorkerPool",
        "run.googleapis.com",
        "WorkerPool",
    ),
];

/// The manifest of one asset (the `index`th), or `None` for an asset of another type than Cloud
/// Run's.
fn manifest_of(index: usize, asset: &Value, format: CaiFormat) -> Result<Option<Value>, CaiError> {
    let name = asset.get("name").and_then(Value::as_str).unwrap_or("");
    let error = |message: String| CaiError::Asset {
        index: index + 1,
        name: name.to_owned(),
        message,
    };
    let Some(kind_of) = asset_type(asset) else {
        return Err(error("no assetType".into()));
    };
    let Some(&(_, group, kind)) = CLOUD_RUN_TYPES.iter().find(|(t, ..)| *t == kind_of) else {
        return Ok(None);
    };
    let (version, data, location) = match format {
        CaiFormat::Export | CaiFormat::List => {
            let resource = asset.get("resource").ok_or_else(|| {
                error("no resource: export or list with --content-type=resource".into())
            })?;
            let data = resource
                .get("data")
                .ok_or_else(|| error("resource has no data".into()))?;
            let version = resource.get("version").and_then(Value::as_str);
            let location = resource.get("location").and_then(Value::as_str);
            (version, data, location)
        }
        CaiFormat::Search => {
            let versioned = asset
                .get("versionedResources")
                .and_then(Value::as_array)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    error(
                        "no versionedResources: search with --read-mask='*' so that the resource is included"
                            .into(),
                    )
                })?;
            // The v1 object when there is one (the shape the policies read), else the first.
            let chosen = versioned
                .iter()
                .find(|v| v.get("version").and_then(Value::as_str) == Some("v1"))
                .unwrap_or(&versioned[0]);
            let data = chosen
                .get("resource")
                .ok_or_else(|| error("versionedResources entry has no resource".into()))?;
            let version = chosen.get("version").and_then(Value::as_str);
            let location = asset.get("location").and_then(Value::as_str);
            (version, data, location)
        }
    };
    if !data.is_object() {
        return Err(error("the resource data is not an object".into()));
    }
    let manifest = if data.get("apiVersion").is_some() || version == Some("v1") {
        v1_object(data, group, kind, location)
    } else {
        let (project, name_location, short_name) = parse_full_name(name);
        // The project by number, as v1 objects (and `gcloud run … list`) name their namespace.
        let namespace = project_number(asset).or(project).unwrap_or_default();
        let write = Write {
            version: ApiVersion::V2,
            group,
            kind,
            namespace,
            location: location.map(str::to_owned).or(name_location),
            name: short_name,
            operation: "CREATE",
        };
        v2_to_v1(data, &write)
    };
    Ok(Some(whole_numbers(manifest)))
}

/// CAI keeps a resource in a protobuf `Struct`, which holds every number as a double
/// (`generation: 3.0`): whole numbers are integers again, as the resource's API returns them.
fn whole_numbers(value: Value) -> Value {
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15 => json!(f as i64),
            _ => Value::Number(n),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(whole_numbers).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(k, v)| (k, whole_numbers(v)))
                .collect(),
        ),
        other => other,
    }
}

/// A v1 object as CAI gives it, with `apiVersion` and `kind` when missing and the region label
/// from the asset's location when the object has none.
fn v1_object(data: &Value, group: &str, kind: &str, location: Option<&str>) -> Value {
    let mut object = data.clone();
    let api_version = format!("{group}/v1");
    let fields = object.as_object_mut().expect("checked to be an object");
    fields
        .entry("apiVersion")
        .or_insert_with(|| json!(api_version));
    fields.entry("kind").or_insert_with(|| json!(kind));
    if let Some(location) = location.filter(|l| !l.is_empty() && *l != "global") {
        let metadata = fields.entry("metadata").or_insert_with(|| json!({}));
        if let Some(metadata) = metadata.as_object_mut() {
            let labels = metadata.entry("labels").or_insert_with(|| json!({}));
            if let Some(labels) = labels.as_object_mut() {
                labels
                    .entry("cloud.googleapis.com/location")
                    .or_insert_with(|| json!(location));
            }
        }
    }
    object
}

/// The number of the asset's project: from the resource's `parent`, the asset's `ancestors` (an
/// export or list) or `project` (a search).
fn project_number(asset: &Value) -> Option<String> {
    let number = |text: &str| {
        let n = text.rsplit_once("projects/")?.1;
        (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then(|| n.to_owned())
    };
    let parent = asset
        .get("resource")
        .and_then(|r| r.get("parent"))
        .and_then(Value::as_str);
    let first_ancestor = asset
        .get("ancestors")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str);
    let project = asset.get("project").and_then(Value::as_str);
    [parent, first_ancestor, project]
        .into_iter()
        .flatten()
        .find_map(number)
}

/// The project, location and short name of a full resource name
/// (`//run.googleapis.com/projects/P/locations/L/services/S`).
fn parse_full_name(name: &str) -> (Option<String>, Option<String>, Option<String>) {
    let segments: Vec<&str> = name.trim_start_matches("//").split('/').collect();
    let after = |key: &str| {
        segments
            .windows(2)
            .find(|w| w[0] == key)
            .map(|w| w[1].to_owned())
    };
    let short = segments
        .last()
        .filter(|s| !s.is_empty())
        .map(|s| (*s).to_owned());
    (after("projects"), after("locations"), short)
}

/// The manifests as one JSON array text for the check: each manifest of an export on the line
/// its asset was on, so that findings name the export's lines.
pub fn to_check_text(assets: &Assets) -> String {
    to_check_text_from(&assets.manifests, 1)
}

/// [`to_check_text`] of some of an input's manifests, the text's first line standing for the
/// input's line `first_line`: a finding on the text's line L is on the input's line
/// L + `first_line` - 1.
pub fn to_check_text_from(manifests: &[(usize, Value)], first_line: usize) -> String {
    let mut text = String::from("[");
    let mut line = first_line;
    for (k, (at, manifest)) in manifests.iter().enumerate() {
        if k > 0 {
            text.push(',');
        }
        while line < *at {
            text.push('\n');
            line += 1;
        }
        text.push_str(&manifest.to_string());
    }
    text.push_str("]\n");
    text
}

#[cfg(test)]
mod tests;
