//! An overview card as one caller may see it, for the page and its stream.

use std::sync::Arc;

use super::AppState;
use super::templates::render;
use super::view::card::{CardView, without_actions};
use crate::cluster::access::NamespaceAccess;
use crate::cluster::hub::RolloutEntry;
use crate::model::RolloutKey;

/// A card as this caller sees it: the hub's rendering (or, without a
/// renderer, one made now), without its buttons where RBAC does not let
/// them promote or abort.
pub fn card_html(
    state: &AppState,
    key: &RolloutKey,
    entry: &RolloutEntry,
    access: NamespaceAccess,
) -> Arc<str> {
    let html = entry
        .card
        .get_or_init(|| {
            render(&super::templates::CardPartial {
                card: &CardView::of(&entry.info(key), entry.observed.as_deref()),
                base: &state.base_path,
                read_only: state.read_only,
            })
            .into()
        })
        .clone();
    if access.patch_status {
        html
    } else {
        without_actions(&html).into()
    }
}
