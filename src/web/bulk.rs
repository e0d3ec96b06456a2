//! Acting on many rollouts at once. `GET {base}/bulk` previews what an
//! action would do to each rollout of a selection (ticked cards, or every
//! rollout the overview's filter keeps); its form posts to
//! `{base}/bulk/{action}`, which answers with a results page, or the
//! outcomes line by line as they happen (`Accept: application/x-ndjson`,
//! what the page's script reads). `POST {base}/api/v1/bulk/{action}` is the
//! same for scripts, in JSON. Each rollout is sent as the single action
//! (`bulk_run`).

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;

use crate::actions::Expectation;
use crate::cluster::act::Request;
use crate::cluster::hub::RolloutEntry;
use crate::info::RolloutInfo;
use crate::model::RolloutKey;

use super::AppState;
use super::auth::identity::{Caller, ClientAddr};
use super::auth::limits::stream_slot;
use super::auth::permissions::{Permissions, Rights};
use super::bulk_run::{self, Item, MAX_SELECTION, Outcome};
use super::error::{AppError, PageError};
use super::templates::{BulkCount, BulkPage, BulkResultRow, PageInfo, render};
use super::view::bulk::{BulkAction, PreviewRow, applicable_counts, outcome_class, outcome_words};
use super::view::filter::Filter;

const NDJSON: &str = "application/x-ndjson";

fn action_of(segment: &str) -> Result<BulkAction, AppError> {
    BulkAction::parse(segment).ok_or_else(|| {
        AppError::NotFound(format!(
            "no action {:?} for a selection (promote, promote-full, abort, retry, pause, resume)",
            super::text::clip(segment, 40)
        ))
    })
}

/// `{"rollouts":[{"namespace","name","expectStepIndex","expectPodTemplateHash"}]}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiBody {
    rollouts: Vec<ApiItem>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ApiItem {
    namespace: String,
    name: String,
    #[serde(default)]
    expect_step_index: Option<i32>,
    #[serde(default)]
    expect_pod_template_hash: Option<String>,
}

fn api_items(body: &Bytes) -> Result<Vec<Item>, AppError> {
    let body: ApiBody = serde_json::from_slice(body)
        .map_err(|e| AppError::BadRequest(format!("the request body is not valid: {e}")))?;
    let items = body
        .rollouts
        .into_iter()
        .map(|i| Item {
            namespace: i.namespace,
            name: i.name,
            expect: Expectation {
                pod_template_hash: i.expect_pod_template_hash.filter(|h| !h.is_empty()),
                step_index: i.expect_step_index,
            },
        })
        .collect();
    within_bounds(items)
}

/// The form's `item` fields: `namespace/name/stepIndex/podTemplateHash`.
fn form_items(body: &Bytes) -> Result<Vec<Item>, AppError> {
    let mut items = Vec::new();
    for (k, v) in form_urlencoded::parse(body) {
        if k != "item" {
            continue;
        }
        if items.len() > MAX_SELECTION {
            break;
        }
        let mut parts = v.split('/');
        let (Some(namespace), Some(name), step, hash) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AppError::BadRequest(format!(
                "item {:?} is not namespace/name/step/hash",
                super::text::clip(&v, 80)
            )));
        };
        let step_index = match step.filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(s.parse().map_err(|_| {
                AppError::BadRequest(format!(
                    "step index {:?} is not a number",
                    super::text::clip(s, 20)
                ))
            })?),
        };
        items.push(Item {
            namespace: namespace.to_string(),
            name: name.to_string(),
            expect: Expectation {
                pod_template_hash: hash.filter(|h| !h.is_empty()).map(str::to_string),
                step_index,
            },
        });
    }
    within_bounds(items)
}

/// The overview's filter the preview came from (its `filter` field), for
/// the way back; rebuilt through `Filter`, never echoed.
fn back_filter(body: &Bytes) -> Filter {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == "filter")
        .map(|(_, v)| {
            let pairs: Vec<(String, String)> = form_urlencoded::parse(v.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            Filter::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        })
        .unwrap_or_default()
}

fn within_bounds(items: Vec<Item>) -> Result<Vec<Item>, AppError> {
    if items.is_empty() {
        return Err(AppError::Unprocessable(
            "the selection is empty: name at least one rollout".to_string(),
        ));
    }
    if items.len() > MAX_SELECTION {
        return Err(AppError::Unprocessable(format!(
            "a selection holds at most {MAX_SELECTION} rollouts: act on fewer at a time"
        )));
    }
    if let Some(bad) = items
        .iter()
        .find(|i| i.namespace.is_empty() || i.name.is_empty())
    {
        return Err(AppError::BadRequest(format!(
            "every rollout needs a namespace and a name ({:?}/{:?})",
            super::text::clip(&bad.namespace, 63),
            super::text::clip(&bad.name, 63)
        )));
    }
    Ok(items)
}

/// Starts the run of the action named `segment` on the `items` a body
/// gave, or says why not (404 no such action, the body's error, 429 when
/// they, or all, run too many); the action, the items and the outcomes.
fn begin(
    state: &AppState,
    caller: &Caller,
    from: ClientAddr,
    segment: &str,
    items: Result<Vec<Item>, AppError>,
) -> Result<(BulkAction, Vec<Item>, tokio::sync::mpsc::Receiver<Outcome>), AppError> {
    let action = action_of(segment)?;
    let items = items?;
    let slot = stream_slot(&state.bulk_runs, caller, from)?;
    let rx = bulk_run::start(
        state,
        caller.clone(),
        Request::Simple(action.action()),
        items.clone(),
        slot,
    );
    Ok((action, items, rx))
}

fn wants(headers: &HeaderMap, kind: &str) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains(kind))
}

/// The outcomes as they come, one JSON object a line. Never compressed:
/// a compressor holds lines back until it has enough of them.
fn lines(rx: tokio::sync::mpsc::Receiver<Outcome>) -> Response {
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx).map(|o| {
        let mut line = serde_json::to_vec(&o).unwrap_or_default();
        line.push(b'\n');
        Ok::<_, std::convert::Infallible>(Bytes::from(line))
    });
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static("identity"),
    );
    response
}

/// `POST {base}/api/v1/bulk/{action}`: `{"results":[…]}` in the order
/// given, each with the code the single action would answer.
pub async fn api(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(from): Extension<ClientAddr>,
    Path(action): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let (_, items, rx) = begin(&state, &caller, from, &action, api_items(&body))?;
    if wants(&headers, NDJSON) {
        return Ok(lines(rx));
    }
    let results = bulk_run::collect(rx, &items).await;
    Ok(Json(json!({ "results": results })).into_response())
}

/// `POST {base}/bulk/{action}`, the preview's form: a page of what
/// happened to each, or (from the page's script) the outcomes line by line
/// and a refusal of the whole in JSON.
pub async fn post_form(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(from): Extension<ClientAddr>,
    Path(action): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let script = wants(&headers, NDJSON);
    let (action, items, rx) = match begin(&state, &caller, from, &action, form_items(&body)) {
        Ok(run) => run,
        Err(e) if script => return e.into_response(),
        Err(e) => return PageError(e).into_response(),
    };
    if script {
        return lines(rx);
    }
    let outcomes = bulk_run::collect(rx, &items).await;
    let done = outcomes.iter().filter(|o| o.code == 200).count();
    let page = BulkPage {
        heading: format!("{}: {done} of {} done", action.label(), outcomes.len()),
        results: outcomes
            .iter()
            .map(|o| BulkResultRow {
                namespace: o.namespace.clone(),
                name: o.name.clone(),
                class: outcome_class(o.code),
                words: outcome_words(o.code),
                message: super::text::clip(&o.message, 400).into_owned(),
            })
            .collect(),
        ..bulk_page(&state, &caller, action, back_filter(&body)).await
    };
    Html(render(&page)).into_response()
}

/// A page for `action` with nothing on it yet.
async fn bulk_page(
    state: &AppState,
    caller: &Caller,
    action: BulkAction,
    filter: Filter,
) -> BulkPage {
    let snapshot = state.view.snapshot();
    let perms = Permissions::of(state, caller);
    BulkPage {
        filter: filter.query(1),
        page: PageInfo::new(state, caller, String::new()),
        banner: perms.banner(&snapshot.health).await,
        action: action.segment(),
        label: action.label(),
        danger: action == BulkAction::Abort,
        heading: String::new(),
        back: format!("{}?{}", state.base_path, filter.query(1))
            .trim_end_matches('?')
            .to_string(),
        notice: None,
        counts: Vec::new(),
        rows: Vec::new(),
        applicable: 0,
        results: Vec::new(),
    }
}

/// What a preview selects: ticked rollouts (`r=namespace/name`), or with
/// `scope=all` every rollout the overview's filter keeps.
struct Selection {
    action: BulkAction,
    filter: Filter,
    all: bool,
    ticked: Vec<RolloutKey>,
}

impl Selection {
    fn of(pairs: &[(String, String)]) -> Result<Selection, AppError> {
        let value = |key: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let action = action_of(value("action").unwrap_or_default())?;
        let mut ticked: Vec<RolloutKey> = Vec::new();
        for (_, v) in pairs.iter().filter(|(k, _)| k == "r") {
            // One past the bound is enough to say the selection is too big.
            if ticked.len() > MAX_SELECTION {
                break;
            }
            if let Some((ns, name)) = v.split_once('/') {
                let key = RolloutKey::new(ns, name);
                if !ticked.contains(&key) {
                    ticked.push(key);
                }
            }
        }
        Ok(Selection {
            action,
            filter: Filter::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            all: value("scope") == Some("all"),
            ticked,
        })
    }

    /// What the person may do where the selection is: every namespace
    /// the filter may keep, or only those of the ticked rollouts (and of
    /// those, only namespaces with rollouts: a name typed into the URL
    /// costs no review).
    async fn rights(
        &self,
        perms: &Permissions,
        snapshot: &crate::cluster::hub::Snapshot,
    ) -> Result<Rights, AppError> {
        if self.all || perms.sees_everything() {
            return super::queries::rights_in(perms, snapshot, None).await;
        }
        let namespaces: std::collections::BTreeSet<String> = self
            .ticked
            .iter()
            .filter(|k| snapshot.tallies.namespaces.contains_key(&k.namespace))
            .map(|k| k.namespace.clone())
            .collect();
        perms.rights(namespaces).await
    }

    /// The query that selects the same rollouts for `action`.
    fn query(&self, action: BulkAction) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("action", action.segment());
        if self.all {
            q.append_pair("scope", "all");
        } else {
            for k in &self.ticked {
                q.append_pair("r", &format!("{}/{}", k.namespace, k.name));
            }
        }
        let filter = self.filter.query(1);
        if filter.is_empty() {
            q.finish()
        } else {
            format!("{}&{filter}", q.finish())
        }
    }
}

/// `GET {base}/bulk`: every selected rollout with what the action would
/// do to it from where it is now, or why it would not be sent; the form
/// carries what the person saw of each.
pub async fn preview(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let selection = Selection::of(&pairs)?;
    let action = selection.action;
    let snapshot = state.view.snapshot();
    let perms = Permissions::of(&state, &caller);
    let rights = selection.rights(&perms, &snapshot).await?;
    let (infos, unknown, total) = selected(&snapshot, &rights, &selection);
    let mut page = bulk_page(&state, &caller, action, selection.filter.clone()).await;
    if total > MAX_SELECTION {
        page.heading = format!("{} several rollouts", action.label());
        page.notice = Some(format!(
            "The selection holds {} rollouts; at most {MAX_SELECTION} are acted on at once. Narrow the filter, or tick fewer.",
            crate::info::words::thousands(total as u64)
        ));
        return Ok(Html(render(&page)).into_response());
    }
    let may = |info: &RolloutInfo, a| rights.access(&info.object_meta.namespace).allows(a);
    let refs: Vec<&RolloutInfo> = infos.iter().collect();
    page.counts = applicable_counts(&refs, may)
        .into_iter()
        .map(|(a, applies)| BulkCount {
            label: a.label(),
            applies,
            // Those not found count too: they are what was asked for.
            of: infos.len() + unknown.len(),
            current: a == action,
            href: format!("{}bulk?{}", state.base_path, selection.query(a)),
        })
        .collect();
    page.rows = infos
        .iter()
        .map(|i| PreviewRow::of(action, i, may(i, action.action())))
        .chain(
            unknown
                .iter()
                .map(|k| PreviewRow::unknown(&k.namespace, &k.name)),
        )
        .collect();
    page.applicable = page.rows.iter().filter(|r| r.applies).count();
    let shown = page.rows.len();
    page.heading = match page.applicable {
        0 if shown == 0 => "Nothing is selected".to_string(),
        0 => format!("{} applies to none of these {shown}", action.label()),
        n => format!("{} {n} of {shown} selected?", action.label()),
    };
    if shown == 0 {
        page.notice = Some(
            "Tick rollouts on the overview, or choose every rollout the filter keeps.".to_string(),
        );
    }
    Ok(Html(render(&page)).into_response())
}

/// The selected rollouts the person may see, as they are now (read back
/// from the view), those named that are not there, and how many the
/// selection holds (which may be more than were read).
fn selected(
    snapshot: &crate::cluster::hub::Snapshot,
    rights: &Rights,
    selection: &Selection,
) -> (Vec<RolloutInfo>, Vec<RolloutKey>, usize) {
    let mut found: Vec<(&RolloutKey, &std::sync::Arc<RolloutEntry>)> = Vec::new();
    let mut unknown = Vec::new();
    let total = if selection.all {
        let mut total = 0;
        for (key, entry) in snapshot.rollouts.iter() {
            if rights.sees(&key.namespace) && selection.filter.matches(key, &entry.summary) {
                total += 1;
                if found.len() < MAX_SELECTION {
                    found.push((key, entry));
                }
            }
        }
        total
    } else {
        for key in selection.ticked.iter().take(MAX_SELECTION) {
            match snapshot.rollouts.get_key_value(key) {
                Some((key, entry)) if rights.sees(&key.namespace) => found.push((key, entry)),
                // Not there, or not theirs: the same words.
                _ => unknown.push(key.clone()),
            }
        }
        selection.ticked.len()
    };
    let mut infos = Vec::with_capacity(found.len());
    for (key, entry) in found {
        match entry.json.info() {
            Ok(info) => infos.push(info),
            Err(e) => {
                tracing::warn!(rollout = %key, error = %e, "a rollout's kept JSON does not read back");
                unknown.push(key.clone());
            }
        }
    }
    (infos, unknown, total)
}
