//! Lenient field decoders for values whose JSON type varies between
//! controller versions.

use serde::{Deserialize, Deserializer};

/// A string that some writers store as a number (`status.observedGeneration`
/// is a string in the CRD, but a number in very old objects).
pub fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        S(String),
        I(i64),
        U(u64),
        F(f64),
    }
    Ok(Option::<Raw>::deserialize(d)?.map(|r| match r {
        Raw::S(s) => s,
        Raw::I(i) => i.to_string(),
        Raw::U(u) => u.to_string(),
        Raw::F(f) => f.to_string(),
    }))
}

/// `null` reads as the type's default, as Go does for a struct field
/// (`metadata: null` is an empty ObjectMeta, not an error).
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}
