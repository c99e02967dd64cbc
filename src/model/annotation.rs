//! The `vpc.amazonaws.com/pod-eni` annotation: which branch ENI(s) a pod was given.
//!
//! The controller writes a JSON array of objects (`eniId`, `ifAddress`, `privateIp`,
//! `vlanId`, `subnetCidr`, …). Older controllers omit fields and some writers spell
//! `vlanID`, so field names are matched case-insensitively and unknown fields ignored.
//! Only the ENI ids are kept: that is all the join needs, and it keeps pods small.

use compact_str::CompactString;
use serde_json::Value;
use smallvec::SmallVec;

/// A pod's ENI IDs: almost always one, kept inline (a `Vec` would be a 32-byte
/// allocation more per cached pod).
pub type EniIds = SmallVec<[CompactString; 1]>;

/// What a pod's annotation says, reduced to what the join reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum EniAnnotation {
    /// No annotation: the controller has not given the pod an ENI (yet).
    #[default]
    Absent,
    /// The ENI ids found, and what was wrong with the rest, if anything.
    Present {
        eni_ids: EniIds,
        problem: Option<String>,
    },
}

impl EniAnnotation {
    pub fn eni_ids(&self) -> &[CompactString] {
        match self {
            EniAnnotation::Absent => &[],
            EniAnnotation::Present { eni_ids, .. } => eni_ids,
        }
    }

    pub fn problem(&self) -> Option<&str> {
        match self {
            EniAnnotation::Absent => None,
            EniAnnotation::Present { problem, .. } => problem.as_deref(),
        }
    }

    /// True when the pod has been given no ENI and nothing is wrong with what it says.
    pub fn has_no_eni(&self) -> bool {
        self.eni_ids().is_empty() && self.problem().is_none()
    }
}

/// Parses the annotation value; never fails: what cannot be read becomes `problem`,
/// and every well-formed entry is still kept.
pub fn parse_eni_annotation(raw: &str) -> EniAnnotation {
    let entries = match serde_json::from_str::<Value>(raw) {
        Ok(Value::Array(entries)) => entries,
        // A single object instead of an array: accept it, it names one ENI just as well.
        Ok(single @ Value::Object(_)) => vec![single],
        Ok(other) => {
            return EniAnnotation::Present {
                eni_ids: EniIds::new(),
                problem: Some(format!(
                    "expected a JSON array, found {}",
                    json_kind(&other)
                )),
            };
        }
        Err(error) => {
            return EniAnnotation::Present {
                eni_ids: EniIds::new(),
                problem: Some(format!("not JSON: {error}")),
            };
        }
    };
    let mut eni_ids = EniIds::with_capacity(entries.len());
    let mut bad_entries = 0usize;
    for entry in &entries {
        match entry_eni_id(entry) {
            Some(id) => eni_ids.push(CompactString::from(id)),
            None => bad_entries += 1,
        }
    }
    let problem = (bad_entries > 0).then(|| {
        format!(
            "{bad_entries} of {} entries have no string eniId",
            entries.len()
        )
    });
    EniAnnotation::Present { eni_ids, problem }
}

fn entry_eni_id(entry: &Value) -> Option<&str> {
    let Value::Object(fields) = entry else {
        return None;
    };
    fields
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("eniId"))
        .and_then(|(_, value)| value.as_str())
        .filter(|id| !id.is_empty())
}

/// How a JSON value is described in messages: `a string`, `an array`, …
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(raw: &str) -> (Vec<String>, Option<String>) {
        match parse_eni_annotation(raw) {
            EniAnnotation::Present { eni_ids, problem } => {
                (eni_ids.iter().map(|id| id.to_string()).collect(), problem)
            }
            EniAnnotation::Absent => panic!("parser never returns Absent"),
        }
    }

    #[test]
    fn accepts_every_shape_controllers_write() {
        let cases = [
            (
                "current controller, all fields",
                r#"[{"eniId":"eni-0a1","ifAddress":"02:1f:2a:3b:4c:5d","privateIp":"10.0.1.5","ipv6Addr":"","vlanId":3,"subnetCidr":"10.0.0.0/19","subnetV6Cidr":"","associationID":"trunk-assoc-0f1"}]"#,
                vec!["eni-0a1"],
            ),
            (
                "older controller, few fields",
                r#"[{"eniId":"eni-0b2","ifAddress":"02:00:00:00:00:01","privateIp":"10.0.1.6","vlanId":1,"subnetCidr":"10.0.0.0/19"}]"#,
                vec!["eni-0b2"],
            ),
            (
                "vlanID spelling and unknown fields",
                r#"[{"eniID":"eni-0c3","vlanID":7,"somethingNew":{"x":1}}]"#,
                vec!["eni-0c3"],
            ),
            (
                "two ENIs",
                r#"[{"eniId":"eni-1"},{"eniId":"eni-2"}]"#,
                vec!["eni-1", "eni-2"],
            ),
            ("single object", r#"{"eniId":"eni-0d4"}"#, vec!["eni-0d4"]),
            ("empty array", "[]", vec![]),
        ];
        for (name, raw, want) in cases {
            let (got, problem) = ids(raw);
            assert_eq!(got, want, "{name}");
            assert_eq!(problem, None, "{name}");
        }
    }

    #[test]
    fn malformed_values_become_problems_not_panics() {
        let cases = [
            ("truncated", r#"[{"eniId":"eni-1""#, "not JSON"),
            ("plain string", r#""eni-1""#, "found a string"),
            ("number", "42", "found a number"),
            ("empty", "", "not JSON"),
        ];
        for (name, raw, want) in cases {
            let (got, problem) = ids(raw);
            assert!(got.is_empty(), "{name}");
            let problem = problem.unwrap_or_else(|| panic!("{name}: no problem reported"));
            assert!(problem.contains(want), "{name}: {problem}");
        }
    }

    #[test]
    fn keeps_good_entries_next_to_bad_ones() {
        let (got, problem) =
            ids(r#"[{"eniId":"eni-good"},{"privateIp":"10.0.0.1"},7,{"eniId":12}]"#);
        assert_eq!(got, vec!["eni-good"]);
        assert_eq!(
            problem.as_deref(),
            Some("3 of 4 entries have no string eniId")
        );
    }
}
