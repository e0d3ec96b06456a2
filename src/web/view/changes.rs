//! PURE: the rollout page's "What changed" panel: the pod template's
//! changes from stable (or the revision before) to the current revision.

use crate::web::diff::DiffJson;

pub struct ChangesView {
    /// `Revision 1 → revision 2`.
    pub title: String,
    pub summary: String,
    /// Which side came from the release history.
    pub note: Option<String>,
    pub rows: Vec<ChangeRow>,
    /// Why nothing could be compared.
    pub error: Option<String>,
}

pub struct ChangeRow {
    pub path: String,
    pub from: String,
    pub to: String,
}

impl ChangesView {
    pub fn of(d: &DiffJson) -> ChangesView {
        let shown = |v: &Option<String>| v.clone().unwrap_or_else(|| "–".to_string());
        ChangesView {
            title: format!("Revision {} → revision {}", d.from, d.to),
            summary: format!("Revision {} {}.", d.to, d.summary),
            note: d.note.clone(),
            rows: d
                .changes
                .iter()
                .map(|c| ChangeRow {
                    path: c.path.clone(),
                    from: shown(&c.from),
                    to: shown(&c.to),
                })
                .collect(),
            error: None,
        }
    }

    pub fn failed(why: String) -> ChangesView {
        ChangesView {
            title: String::new(),
            summary: String::new(),
            note: None,
            rows: Vec::new(),
            error: Some(why),
        }
    }
}
