//! Typed access to the fields of one JSON record, with errors naming the record.

use serde_json::{Map, Value};

use crate::error::{DataError, Location, Result};

/// One JSON object together with where it was read, so that every accessor can
/// report a precise error.
pub(crate) struct Record<'a> {
    pub(crate) object: &'a Map<String, Value>,
    pub(crate) at: &'a Location,
}

impl Record<'_> {
    fn missing(&self, field: &str) -> DataError {
        DataError::MissingField {
            at: self.at.clone(),
            field: field.to_owned(),
        }
    }

    fn wrong_type(&self, field: &str, expected: &'static str) -> DataError {
        DataError::FieldType {
            at: self.at.clone(),
            field: field.to_owned(),
            expected,
        }
    }

    /// Whether the field is present (a JSON `null` counts as absent).
    pub(crate) fn has(&self, field: &str) -> bool {
        self.object.get(field).is_some_and(|v| !v.is_null())
    }

    /// A required string field.
    pub(crate) fn string(&self, field: &str) -> Result<String> {
        match self.object.get(field) {
            None | Some(Value::Null) => Err(self.missing(field)),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(self.wrong_type(field, "a string")),
        }
    }

    /// A required list of strings.
    pub(crate) fn string_list(&self, field: &str) -> Result<Vec<String>> {
        match self.object.get(field) {
            None | Some(Value::Null) => Err(self.missing(field)),
            Some(Value::Array(values)) => values
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| self.wrong_type(field, "a list of strings")),
            Some(_) => Err(self.wrong_type(field, "a list of strings")),
        }
    }

    /// A required field holding either one string or a list of strings.
    pub(crate) fn one_or_many_strings(&self, field: &str) -> Result<Vec<String>> {
        match self.object.get(field) {
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            _ => self.string_list(field).map_err(|e| match e {
                DataError::FieldType { at, field, .. } => DataError::FieldType {
                    at,
                    field,
                    expected: "a string or a list of strings",
                },
                other => other,
            }),
        }
    }

    /// Every field except `exclude`, for [`crate::ItemMeta::fields`].
    pub(crate) fn rest(&self, exclude: &[&str]) -> Map<String, Value> {
        self.object
            .iter()
            .filter(|(k, _)| !exclude.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with_record<T>(value: Value, f: impl FnOnce(Record<'_>) -> T) -> T {
        let at = Location::line("f.jsonl", 3);
        let object = value.as_object().cloned().unwrap_or_default();
        f(Record {
            object: &object,
            at: &at,
        })
    }

    #[test]
    fn string_list_rejects_non_strings_with_the_field_name() {
        let err =
            with_record(json!({"answers": ["a", 1]}), |r| r.string_list("answers")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "f.jsonl:3: field `answers` must be a list of strings"
        );
    }

    #[test]
    fn null_counts_as_missing() {
        let err = with_record(json!({"uuid": null}), |r| r.string("uuid")).unwrap_err();
        assert_eq!(err.to_string(), "f.jsonl:3: missing field `uuid`");
    }

    #[test]
    fn one_or_many_accepts_both_shapes() {
        let one = with_record(json!({"p": "x"}), |r| r.one_or_many_strings("p")).unwrap();
        let many = with_record(json!({"p": ["x", "y"]}), |r| r.one_or_many_strings("p")).unwrap();
        assert_eq!(one, vec!["x"]);
        assert_eq!(many, vec!["x", "y"]);
        let err = with_record(json!({"p": 3}), |r| r.one_or_many_strings("p")).unwrap_err();
        assert!(
            err.to_string().contains("a string or a list of strings"),
            "{err}"
        );
    }
}
