//! Prometheus's answer, `{"status", "data": {"resultType", "result": […]},
//! "error"}`, read as it is parsed: each sample goes to a sink, never
//! gathered into a list of label maps first, and the answer itself is read
//! as it arrives (`read_from`), never held whole. At 5,000 rollouts the request and latency answers hold
//! about 300,000 samples; as maps they cost the dashboard ~300 MB for a
//! moment at every refresh (measured by `benches/observed.rs`).

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A sample's labels, in the order Prometheus sent them.
#[derive(Debug, Default)]
pub struct Labels<'a>(Vec<(Str<'a>, Str<'a>)>);

impl Labels<'_> {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.0 == name)
            .map(|(_, v)| v.0.as_ref())
    }
}

/// A sample's value: one number (an instant vector) or numbers over time
/// (a range's matrix), as (seconds since the epoch, value).
#[derive(Debug)]
pub enum Point<'a> {
    Instant(f64),
    Range(&'a [(i64, f64)]),
}

/// What the envelope said, beside the samples.
#[derive(Debug, Default)]
pub struct Envelope {
    pub status: String,
    pub error: Option<String>,
    pub result_type: Option<String>,
}

/// Reads an answer as `reader` yields it (labels are copied then), calling
/// `sink` with every sample: the answer is never held whole.
pub fn read_from(
    reader: impl std::io::Read,
    sink: &mut dyn FnMut(&Labels<'_>, Point<'_>),
) -> Result<Envelope, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_reader(reader);
    let envelope = EnvelopeSeed { sink }.deserialize(&mut de)?;
    de.end()?;
    Ok(envelope)
}

/// A sample's value as a number: Prometheus sends numbers as strings,
/// `NaN` and `±Inf` included. NaN (no requests in a ratio) counts as none.
pub fn number(text: &str) -> f64 {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => v,
        _ => 0.0,
    }
}

/// A string borrowed from the answer where it has no escapes.
#[derive(Debug)]
pub struct Str<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for Labels<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Labels<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of labels")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Labels<'de>, A::Error> {
                let mut labels = Vec::with_capacity(map.size_hint().unwrap_or(4));
                while let Some((k, v)) = map.next_entry::<Str<'de>, Str<'de>>()? {
                    labels.push((k, v));
                }
                Ok(Labels(labels))
            }
        }
        d.deserialize_map(V)
    }
}

struct EnvelopeSeed<'s> {
    sink: &'s mut dyn FnMut(&Labels<'_>, Point<'_>),
}

impl<'de> DeserializeSeed<'de> for EnvelopeSeed<'_> {
    type Value = Envelope;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Envelope, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EnvelopeSeed<'_> {
    type Value = Envelope;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("Prometheus's answer")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Envelope, A::Error> {
        let sink = self.sink;
        let mut envelope = Envelope::default();
        while let Some(key) = map.next_key::<Str<'de>>()? {
            match key.0.as_ref() {
                "status" => envelope.status = map.next_value()?,
                "error" => envelope.error = map.next_value()?,
                "data" => {
                    envelope.result_type = map.next_value_seed(DataSeed { sink: &mut *sink })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(envelope)
    }
}

/// `{"resultType", "result"}`: the result type, samples to the sink.
struct DataSeed<'s> {
    sink: &'s mut dyn FnMut(&Labels<'_>, Point<'_>),
}

impl<'de> DeserializeSeed<'de> for DataSeed<'_> {
    type Value = Option<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DataSeed<'_> {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the answer's data")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<String>, A::Error> {
        let sink = self.sink;
        let mut result_type = None;
        while let Some(key) = map.next_key::<Str<'de>>()? {
            match key.0.as_ref() {
                "resultType" => result_type = Some(map.next_value()?),
                "result" => map.next_value_seed(ResultSeed { sink: &mut *sink })?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(result_type)
    }
}

/// `[sample, …]` (a scalar's `[time, "v"]` is read as no sample).
struct ResultSeed<'s> {
    sink: &'s mut dyn FnMut(&Labels<'_>, Point<'_>),
}

impl<'de> DeserializeSeed<'de> for ResultSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ResultSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of samples")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let sink = self.sink;
        let mut points: Vec<(i64, f64)> = Vec::new();
        while let Some(sample) = seq.next_element::<SampleOrOther<'de>>()? {
            let SampleOrOther::Sample(sample) = sample else {
                continue;
            };
            match (sample.value, sample.values) {
                (Some((_, v)), _) => sink(&sample.metric, Point::Instant(number(&v.0))),
                (None, Some(values)) => {
                    points.clear();
                    points.extend(values.iter().map(|(at, v)| (*at as i64, number(&v.0))));
                    sink(&sample.metric, Point::Range(&points));
                }
                (None, None) => {}
            }
        }
        Ok(())
    }
}

/// One element of `result`: a sample of a vector or a matrix; anything
/// else (a scalar's time and value) is skipped.
enum SampleOrOther<'a> {
    Sample(Sample<'a>),
    Other,
}

#[derive(Default)]
struct Sample<'a> {
    metric: Labels<'a>,
    value: Option<(f64, Str<'a>)>,
    values: Option<Vec<(f64, Str<'a>)>>,
}

impl<'de> Deserialize<'de> for SampleOrOther<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SampleOrOther<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a sample")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut sample = Sample::default();
                while let Some(key) = map.next_key::<Str<'de>>()? {
                    match key.0.as_ref() {
                        "metric" => sample.metric = map.next_value()?,
                        "value" => sample.value = map.next_value()?,
                        "values" => sample.values = map.next_value()?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(SampleOrOther::Sample(sample))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(SampleOrOther::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(SampleOrOther::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(SampleOrOther::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(SampleOrOther::Other)
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(SampleOrOther::Other)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(SampleOrOther::Other)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(SampleOrOther::Other)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_reach_the_sink_with_their_labels_as_they_are_parsed() {
        let body = br#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"namespace":"shop","pod":"web-a","le":"+Inf"},"value":[1700000000.1,"9"]},
            {"metric":{"namespace":"sh\"op","pod":"web-b"},"value":[1700000000.1,"NaN"]}]},"warnings":["x"]}"#;
        let mut seen = Vec::new();
        let envelope = read_from(&body[..], &mut |labels, point| {
            let Point::Instant(v) = point else {
                panic!("an instant vector")
            };
            seen.push((
                labels.get("namespace").unwrap_or_default().to_string(),
                labels.get("le").map(str::to_string),
                v,
            ));
        })
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(envelope.status, "success");
        assert_eq!(envelope.result_type.as_deref(), Some("vector"));
        assert_eq!(
            seen,
            [
                ("shop".to_string(), Some("+Inf".to_string()), 9.0),
                ("sh\"op".to_string(), None, 0.0)
            ],
            "escaped labels are read too; NaN is none"
        );
    }

    #[test]
    fn a_matrix_gives_each_series_points_and_an_error_says_why() {
        let body = br#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"pod":"web-a"},"values":[[1700000000,"1.5"],[1700000060,"2"]]}]}}"#;
        let mut seen = Vec::new();
        read_from(&body[..], &mut |labels, point| {
            if let Point::Range(points) = point {
                seen.push((labels.get("pod").map(str::to_string), points.to_vec()));
            }
        })
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            seen,
            [(
                Some("web-a".to_string()),
                vec![(1_700_000_000, 1.5), (1_700_000_060, 2.0)]
            )]
        );
        let refused = read_from(
            &br#"{"status":"error","errorType":"bad_data","error":"parse error"}"#[..],
            &mut |_, _| panic!("no samples"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (refused.status.as_str(), refused.error.as_deref()),
            ("error", Some("parse error"))
        );
        assert!(read_from(&b"<html>proxy error</html>"[..], &mut |_, _| {}).is_err());
        let scalar = read_from(
            &br#"{"status":"success","data":{"resultType":"scalar","result":[1700000000,"1"]}}"#[..],
            &mut |_, _| panic!("a scalar is no sample"),
        );
        assert!(scalar.is_ok(), "{scalar:?}");
    }
}
