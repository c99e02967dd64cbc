//! Decoding one snapshot file as a stream: the top-level object is walked without
//! building it, the list's elements are taken one at a time as raw JSON text and decoded
//! on their own, so one odd object costs a warning (naming the failing field), not the
//! file, and memory follows the objects kept, never the file's size or object count.

use std::io::Read;
use std::marker::PhantomData;
use std::path::Path;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess,
    Visitor,
};
use serde_json::Value;
use serde_json::error::Category;
use serde_json::value::RawValue;

use super::{FileSpec, SnapshotDirError, not_json, shape};
use crate::model::{InputWarning, WarningKind};

/// Bad objects named one by one per file; the rest are summed in one more warning, so
/// a file of a million broken objects costs no more memory than a hundred.
const MAX_WARNINGS_PER_FILE: usize = 100;

/// Reads `{ "<list_key>": [ ... ] }` from the file as a stream and decodes each
/// element on its own, converting it at once: one odd object costs a warning, not the
/// file, and memory follows the objects kept, never the file's size or object count.
pub(super) fn read_items<T: DeserializeOwned, U, R: Read>(
    path: &Path,
    spec: &FileSpec,
    open: impl Fn() -> Result<R, SnapshotDirError>,
    warnings: &mut Vec<InputWarning>,
    convert: impl FnMut(T) -> Option<U>,
) -> Result<Vec<U>, SnapshotDirError> {
    let mut items = Items {
        decodes: PhantomData::<fn() -> T>,
        spec,
        listed: 0,
        decoded: 0,
        failed: 0,
        kept: Vec::new(),
        first_problem: None,
        warnings,
        convert,
    };
    let json_error = |error: serde_json::Error| match error.classify() {
        Category::Data => shape(path, error.to_string()),
        Category::Io => SnapshotDirError::Read {
            path: path.to_owned(),
            error: error.into(),
        },
        _ => not_json(path, error),
    };
    let mut deserializer = serde_json::Deserializer::from_reader(open()?);
    let found = DocumentSeed { items: &mut items }
        .deserialize(&mut deserializer)
        .and_then(|found| deserializer.end().map(|()| found))
        .map_err(json_error)?;
    match found {
        Found::List => {}
        Found::Null => items.warnings.push(InputWarning::new(
            WarningKind::BadObject,
            spec.name,
            format!("\"{}\" is null: no objects listed", spec.list_key),
        )),
        // `kubectl get pod NAME -o json` prints one object, not a list: read it again
        // whole (one object is small).
        Found::SingleObject if spec.list_key == "items" => {
            let mut text = String::new();
            open()?
                .read_to_string(&mut text)
                .map_err(|error| SnapshotDirError::Read {
                    path: path.to_owned(),
                    error,
                })?;
            items.decode(0, &text);
        }
        Found::SingleObject | Found::Neither => {
            return Err(shape(
                path,
                format!(
                    "expected an object with \"{}\" as `{}` prints it",
                    spec.list_key, spec.produced_by
                ),
            ));
        }
    }
    if items.failed > MAX_WARNINGS_PER_FILE {
        items.warnings.push(InputWarning::new(
            WarningKind::BadObject,
            spec.name,
            format!(
                "{} more objects could not be decoded",
                items.failed - MAX_WARNINGS_PER_FILE
            ),
        ));
    }
    if items.listed > 0 && items.decoded == 0 {
        return Err(shape(
            path,
            format!(
                "none of its {} objects could be read (is this `{}` output?); first problem: {}",
                items.listed,
                spec.produced_by,
                items.first_problem.unwrap_or_default()
            ),
        ));
    }
    Ok(items.kept)
}

/// What the top level of a file turned out to hold.
enum Found {
    List,
    Null,
    /// No list key, but `metadata`: one Kubernetes object.
    SingleObject,
    Neither,
}

/// The objects of one file as they are decoded and converted.
struct Items<'w, T, F, U> {
    /// Decodes `T`s, converted by `convert` to the `U`s kept.
    decodes: PhantomData<fn() -> T>,
    spec: &'w FileSpec,
    listed: usize,
    decoded: usize,
    failed: usize,
    kept: Vec<U>,
    first_problem: Option<String>,
    warnings: &'w mut Vec<InputWarning>,
    convert: F,
}

/// Decodes one object from its JSON text: the seeds below only know this, not the
/// types involved.
trait DecodeItem {
    fn decode(&mut self, index: usize, raw: &str);
    fn spec(&self) -> &FileSpec;
}

impl<T: DeserializeOwned, U, F: FnMut(T) -> Option<U>> DecodeItem for Items<'_, T, F, U> {
    fn decode(&mut self, index: usize, raw: &str) {
        self.listed += 1;
        match decode_item::<T>(raw) {
            Ok(value) => {
                self.decoded += 1;
                self.kept.extend((self.convert)(value));
            }
            Err(problem) => {
                self.failed += 1;
                if self.failed > MAX_WARNINGS_PER_FILE {
                    return;
                }
                let label =
                    item_label(raw, self.spec.id_key).unwrap_or_else(|| format!("item {index}"));
                self.first_problem
                    .get_or_insert_with(|| format!("{label}: {problem}"));
                self.warnings.push(InputWarning::new(
                    WarningKind::BadObject,
                    format!("{} {label}", self.spec.name),
                    problem,
                ));
            }
        }
    }

    fn spec(&self) -> &FileSpec {
        self.spec
    }
}

/// One object, with the path of the field that failed (`spec.containers[0].name: …`).
fn decode_item<T: DeserializeOwned>(raw: &str) -> Result<T, String> {
    if raw.strip_prefix('{').is_some_and(|rest| rest.trim() == "}") {
        return Err("an empty object".into());
    }
    let mut deserializer = serde_json::Deserializer::from_str(raw);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        // The position is inside this one object, not the file: leave it out.
        let message = inner.to_string();
        let position = format!(" at line {} column {}", inner.line(), inner.column());
        let message = message.strip_suffix(&position).unwrap_or(&message);
        if path == "." {
            message.to_owned()
        } else {
            format!("{path}: {message}")
        }
    })
}

/// The top-level object: the list key's array is decoded item by item, everything else
/// skipped unread.
struct DocumentSeed<'a> {
    items: &'a mut dyn DecodeItem,
}

impl<'de> DeserializeSeed<'de> for DocumentSeed<'_> {
    type Value = Found;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Found, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DocumentSeed<'_> {
    type Value = Found;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let spec = self.items.spec();
        write!(
            f,
            "an object with \"{}\" as `{}` prints it",
            spec.list_key, spec.produced_by
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Found, A::Error> {
        let mut found = Found::Neither;
        while let Some(key) = map.next_key::<String>()? {
            if key == self.items.spec().list_key {
                found = map.next_value_seed(ListSeed {
                    items: &mut *self.items,
                })?;
            } else {
                if key == "metadata" && matches!(found, Found::Neither) {
                    found = Found::SingleObject;
                }
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// The list itself: `null` or an array of objects.
struct ListSeed<'a> {
    items: &'a mut dyn DecodeItem,
}

impl<'de> DeserializeSeed<'de> for ListSeed<'_> {
    type Value = Found;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Found, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ListSeed<'_> {
    type Value = Found;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "\"{}\" to be an array", self.items.spec().list_key)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Found, E> {
        Ok(Found::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Found, A::Error> {
        let mut index = 0;
        // One object's text at a time, dropped once decoded.
        while let Some(raw) = seq.next_element::<Box<RawValue>>()? {
            self.items.decode(index, raw.get());
            index += 1;
        }
        Ok(Found::List)
    }
}

/// A name for an undecodable object: its Kubernetes name or its EC2 id, if it has one.
fn item_label(raw: &str, id_key: &str) -> Option<String> {
    let item: Value = serde_json::from_str(raw).ok()?;
    if let Some(id) = item.get(id_key).and_then(Value::as_str) {
        return Some(id.to_owned());
    }
    let meta = item.get("metadata")?;
    let name = meta.get("name").and_then(Value::as_str)?;
    Some(match meta.get("namespace").and_then(Value::as_str) {
        Some(namespace) => format!("{namespace}/{name}"),
        None => name.to_owned(),
    })
}
