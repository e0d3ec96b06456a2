//! Kubernetes manifests as YAML: multi-document files and `kind: List`
//! objects, read into JSON values (for `sim --manifests` and for tests).

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
#[error("YAML document {index}: {message}")]
pub struct DocumentError {
    /// 1-based position of the document in the file.
    pub index: usize,
    pub message: String,
}

/// Every object in a YAML text: documents in order, the items of a
/// `kind: List` (or `*List`) in place of the list, empty documents skipped.
pub fn parse_yaml_documents(text: &str) -> Result<Vec<Value>, DocumentError> {
    let mut out = Vec::new();
    for (i, doc) in serde_norway::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(doc).map_err(|e| DocumentError {
            index: i + 1,
            message: e.to_string(),
        })?;
        match value {
            Value::Null => {}
            Value::Object(ref map)
                if map
                    .get("kind")
                    .and_then(Value::as_str)
                    .is_some_and(|k| k.ends_with("List"))
                    && map.get("items").is_some_and(Value::is_array) =>
            {
                if let Some(Value::Array(items)) = map.get("items") {
                    out.extend(items.iter().cloned());
                }
            }
            Value::Object(_) => out.push(value),
            other => {
                return Err(DocumentError {
                    index: i + 1,
                    message: format!("expected an object, found {}", type_name(&other)),
                });
            }
        }
    }
    Ok(out)
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_files_and_lists_become_objects() {
        let text = "a: 1\n---\n---\nkind: List\nitems:\n- b: 2\n- c: 3\n";
        let objs = parse_yaml_documents(text).unwrap();
        assert_eq!(
            objs,
            vec![
                serde_json::json!({"a":1}),
                serde_json::json!({"b":2}),
                serde_json::json!({"c":3})
            ]
        );
    }

    #[test]
    fn a_bad_document_is_named() {
        let err = parse_yaml_documents("a: 1\n---\n- just\n- a list\n").unwrap_err();
        assert_eq!(err.index, 2);
        assert!(err.message.contains("a list"), "{err}");
        assert!(parse_yaml_documents("a: [1,\n").is_err());
    }
}
