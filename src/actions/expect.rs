//! "Act on what you saw": an action carries the pod template hash and step
//! index the person was looking at; if the rollout has moved on since, the
//! action is refused instead of, say, skipping a step nobody saw.

use serde::Deserialize;

use crate::model::Rollout;

use super::plan::Refusal;

/// What the person saw. Either part may be absent (Argo's clients send
/// neither), and is then not checked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Expectation {
    pub pod_template_hash: Option<String>,
    pub step_index: Option<i32>,
}

pub fn check_expectation(ro: &Rollout, saw: &Expectation) -> Result<(), Refusal> {
    let st = ro.status();
    if let Some(hash) = saw.pod_template_hash.as_deref()
        && hash != st.current_pod_hash()
    {
        return Err(Refusal::Conflict(format!(
            "a new revision started since you looked (pod template hash {}, you saw {hash}); look again before acting",
            or_none(st.current_pod_hash())
        )));
    }
    if let Some(index) = saw.step_index
        && Some(index) != st.current_step_index()
    {
        let steps = ro.steps().len();
        return Err(Refusal::Conflict(format!(
            "the rollout moved on since you looked: it is at {}, you saw {}; look again before acting",
            step_words(st.current_step_index(), steps),
            step_words(Some(index), steps)
        )));
    }
    Ok(())
}

/// A step index in people's words (steps counted from 1).
pub fn step_words(index: Option<i32>, steps: usize) -> String {
    match index {
        None => "no step".to_string(),
        Some(i) if i < 0 => "no step".to_string(),
        // A strategy without steps (blue-green, a canary with none) has
        // no step to count, only its end.
        Some(_) if steps == 0 => "its end (it has no steps)".to_string(),
        Some(i) if i as usize >= steps => {
            format!(
                "the end of its {steps} step{}",
                if steps == 1 { "" } else { "s" }
            )
        }
        Some(i) => format!("step {} of {steps}", i + 1),
    }
}

fn or_none(s: &str) -> &str {
    if s.is_empty() { "none" } else { s }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn at(hash: &str, index: i32) -> Rollout {
        serde_json::from_value(json!({
            "spec": {"strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}]}}},
            "status": {"currentPodHash": hash, "currentStepIndex": index}
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn what_was_seen_must_still_hold() {
        let ro = at("abc", 2);
        let saw = |hash: Option<&str>, index: Option<i32>| Expectation {
            pod_template_hash: hash.map(str::to_string),
            step_index: index,
        };
        assert_eq!(check_expectation(&ro, &saw(None, None)), Ok(()));
        assert_eq!(check_expectation(&ro, &saw(Some("abc"), Some(2))), Ok(()));
        let Err(Refusal::Conflict(m)) = check_expectation(&ro, &saw(Some("abc"), Some(1))) else {
            panic!("refused");
        };
        assert!(
            m.contains("it is at step 3 of 3, you saw step 2 of 3"),
            "{m}"
        );
        let Err(Refusal::Conflict(m)) = check_expectation(&ro, &saw(Some("old"), None)) else {
            panic!("refused");
        };
        assert!(m.contains("a new revision started"), "{m}");
        assert_eq!(step_words(Some(3), 3), "the end of its 3 steps");
        assert_eq!(step_words(Some(1), 1), "the end of its 1 step");
        assert_eq!(step_words(Some(0), 0), "its end (it has no steps)");
        assert_eq!(step_words(Some(0), 2), "step 1 of 2");
    }
}
