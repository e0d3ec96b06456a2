//! The overview's parts as the page and its live stream both render them:
//! the attention list, a namespace's summary row, the pager, the cards on
//! the page grouped by namespace.

use std::sync::Arc;

use super::AppState;
use super::auth::permissions::Rights;
use super::cards::card_html;
use super::templates::{
    AttentionPartial, AttentionRowView, Group, NamespaceRowPartial, PageStatusPartial,
};
use super::view::health::empty_state;
use super::view::overview::{AttentionRow, Overview, OverviewQuery};
use super::view::status_class;
use crate::cluster::health::Health;
use crate::cluster::hub::Counts;

/// The attention list: `rows` of the `total` that need a person.
pub fn attention_list(base: &str, rows: &[AttentionRow], total: usize) -> AttentionPartial {
    AttentionPartial {
        base: base.to_string(),
        rows: rows
            .iter()
            .map(|r| AttentionRowView {
                namespace: r.key.namespace.clone(),
                name: r.key.name.clone(),
                why: r.why.text(),
                status_class: status_class(&r.status),
                status: r.status.clone(),
            })
            .collect(),
        total,
    }
}

pub fn namespace_row(base: &str, namespace: &str, counts: &Counts) -> NamespaceRowPartial {
    NamespaceRowPartial {
        base: base.to_string(),
        namespace: namespace.to_string(),
        total: counts.total,
        attention: counts.attention,
        statuses: super::view::status_counts(counts),
    }
}

pub fn page_status(
    base: &str,
    o: &Overview,
    query: &OverviewQuery,
    health: &Health,
) -> PageStatusPartial {
    PageStatusPartial {
        range: o.range_text(),
        page: o.page,
        pages: o.pages,
        prev: (o.page > 1).then(|| query.filter.query(o.page - 1)),
        next: (o.page < o.pages).then(|| query.filter.query(o.page + 1)),
        base: base.to_string(),
        empty: empty_state(health, o.cards.len(), o.counts.total),
    }
}

/// The page's cards as this person may see them, by namespace.
pub fn groups(state: &AppState, rights: &Rights, o: &Overview) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for (key, entry) in &o.cards {
        let html: Arc<str> = card_html(state, key, entry, rights.access(&key.namespace));
        match groups.last_mut() {
            Some(g) if g.namespace == key.namespace => g.cards.push(html),
            _ => groups.push(Group {
                namespace: key.namespace.clone(),
                cards: vec![html],
            }),
        }
    }
    groups
}

/// The element id of a namespace's summary row.
pub fn namespace_row_id(namespace: &str) -> String {
    format!("nsrow-{namespace}")
}
