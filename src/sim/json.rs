//! Reading fields of objects the simulator keeps as JSON.

use serde_json::Value;

/// The string at a JSON pointer (`/metadata/name`), or "" when absent or
/// not a string.
pub fn text(v: &Value, pointer: &str) -> String {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}
