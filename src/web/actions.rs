//! The routes that act: Argo's JSON `PUT`s (Argo's dashboard API, plus pause and
//! resume) and the page's form `POST`s. Both check and send through
//! `cluster::act`; both sit behind `guard::mutation_guard`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Form, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::actions::{Action, Expectation};
use crate::cluster::act::{Acted, Request};
use crate::history::{Attribution, EventKind};

use super::AppState;
use super::auth::identity::Caller;
use super::auth::permissions::{Permissions, actor_for, not_visible, refusal};
use super::error::AppError;

/// Whatever Kubernetes does, an action is answered within this long (each
/// call also has its own, shorter, timeout).
pub const ACTION_DEADLINE: std::time::Duration = std::time::Duration::from_secs(15);

/// The body of Argo's PUTs: `{}` or `{"full": true}`; ours may add what the
/// person saw. An empty body is accepted, as grpc-gateway does.
#[derive(Debug, Default, Deserialize)]
struct PutBody {
    #[serde(default)]
    full: bool,
    #[serde(default)]
    expect: Expectation,
}

fn put_body(bytes: &Bytes) -> Result<PutBody, AppError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(PutBody::default());
    }
    serde_json::from_slice(bytes)
        .map_err(|e| AppError::BadRequest(format!("the request body is not valid: {e}")))
}

/// Checks that the caller may, then sends `request` as them (the API
/// server's RBAC still has the last word) and counts the outcome.
pub(super) async fn perform(
    state: &AppState,
    caller: &Caller,
    namespace: &str,
    name: &str,
    request: &Request,
    expect: &Expectation,
) -> Result<Acted, AppError> {
    let action = request.action();
    let perms = Permissions::of(state, caller);
    if !super::auth::permissions::shown_namespace(&state.view.snapshot(), namespace) {
        return Err(AppError::NotFound(format!(
            "this dashboard shows no rollouts in namespace {namespace:?}"
        )));
    }
    let access = perms.access(namespace).await?;
    if !access.list {
        return Err(not_visible(namespace));
    }
    if !access.allows(action) {
        state
            .metrics
            .action(crate::actions::verb(action), "forbidden");
        return Err(refusal(action, namespace));
    }
    let actor = actor_for(state, caller)?;
    let user = caller.user().map(|u| u.name.as_str());
    let sent_at = jiff::Timestamp::now().as_millisecond();
    let done = match tokio::time::timeout(
        ACTION_DEADLINE,
        actor.act(namespace, name, request, expect, user),
    )
    .await
    {
        Ok(done) => done,
        Err(_) => {
            state
                .metrics
                .action(crate::actions::verb(action), "timeout");
            return Err(AppError::GatewayTimeout(format!(
                "Kubernetes did not answer within {} s: the {} may or may not have been applied; the rollout's page shows what the cluster does",
                ACTION_DEADLINE.as_secs(),
                crate::actions::verb(action)
            )));
        }
    };
    state
        .metrics
        .action(crate::actions::verb(action), outcome(&done));
    let done = done?;
    if let Some(history) = &state.history {
        // Who did it: only this replica knows; the history credits them
        // with the change the recorder sees.
        history
            .attribute(Attribution {
                key: crate::model::RolloutKey::new(namespace, name),
                kind: event_kind(action),
                by: user.map(str::to_string),
                at: sent_at,
            })
            .await;
    }
    Ok(done)
}

/// The history's name for what an action does.
fn event_kind(action: Action) -> EventKind {
    match action {
        Action::Promote => EventKind::Promote,
        Action::PromoteFull => EventKind::PromoteFull,
        Action::Abort => EventKind::Abort,
        Action::Retry => EventKind::Retry,
        Action::Restart => EventKind::Restart,
        Action::Pause => EventKind::Pause,
        Action::Resume => EventKind::Resume,
        Action::SetImage => EventKind::SetImage,
        Action::Rollback => EventKind::Rollback,
    }
}

async fn act_json(
    state: &AppState,
    caller: &Caller,
    namespace: &str,
    name: &str,
    request: Request,
    expect: &Expectation,
) -> Result<Json<Value>, AppError> {
    let done = perform(state, caller, namespace, name, &request, expect).await?;
    Ok(Json(done.rollout))
}

/// `PUT .../promote` with `{"full": bool}`.
pub async fn put_promote(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((namespace, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    let body = put_body(&body)?;
    let action = if body.full {
        Action::PromoteFull
    } else {
        Action::Promote
    };
    act_json(
        &state,
        &caller,
        &namespace,
        &name,
        Request::Simple(action),
        &body.expect,
    )
    .await
}

/// `PUT .../{abort,retry,restart,pause,resume}`.
pub async fn put_simple(
    action: Action,
    state: AppState,
    caller: Caller,
    (namespace, name): (String, String),
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    let body = put_body(&body)?;
    act_json(
        &state,
        &caller,
        &namespace,
        &name,
        Request::Simple(action),
        &body.expect,
    )
    .await
}

/// `PUT .../set/{container}/{image...}/{tag}`: the image may contain `/`.
pub async fn put_set_image(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((namespace, name, container, rest)): Path<(String, String, String, String)>,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    let body = put_body(&body)?;
    let (image, tag) = rest
        .rsplit_once('/')
        .ok_or_else(|| AppError::BadRequest("the path must end in /{image}/{tag}".to_string()))?;
    let request = Request::SetImage {
        container,
        image: format!("{image}:{tag}"),
    };
    act_json(&state, &caller, &namespace, &name, request, &body.expect).await
}

/// `PUT .../undo/{revision}`.
pub async fn put_undo(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((namespace, name, revision)): Path<(String, String, i64)>,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    let body = put_body(&body)?;
    act_json(
        &state,
        &caller,
        &namespace,
        &name,
        Request::Rollback { revision },
        &body.expect,
    )
    .await
}

/// The page's forms.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionForm {
    expect_pod_template_hash: Option<String>,
    expect_step_index: Option<String>,
    container: Option<String>,
    image: Option<String>,
    revision: Option<String>,
}

fn filled(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl ActionForm {
    fn request(&self, action: &str) -> Result<Request, AppError> {
        let simple = |a| Ok(Request::Simple(a));
        match action {
            "promote" => simple(Action::Promote),
            "promote-full" => simple(Action::PromoteFull),
            "abort" => simple(Action::Abort),
            "retry" => simple(Action::Retry),
            "restart" => simple(Action::Restart),
            "pause" => simple(Action::Pause),
            "resume" => simple(Action::Resume),
            "set-image" => Ok(Request::SetImage {
                container: filled(&self.container)
                    .ok_or_else(|| AppError::BadRequest("say which container".into()))?
                    .to_string(),
                image: filled(&self.image)
                    .ok_or_else(|| AppError::BadRequest("say which image".into()))?
                    .to_string(),
            }),
            "rollback" => Ok(Request::Rollback {
                revision: match filled(&self.revision) {
                    None => 0,
                    Some(r) => r.parse().map_err(|_| {
                        AppError::BadRequest(format!("revision {r:?} is not a number"))
                    })?,
                },
            }),
            other => Err(AppError::NotFound(format!("no action {other:?}"))),
        }
    }

    fn expectation(&self) -> Result<Expectation, AppError> {
        Ok(Expectation {
            pod_template_hash: filled(&self.expect_pod_template_hash).map(str::to_string),
            step_index: match filled(&self.expect_step_index) {
                None => None,
                Some(i) => Some(i.parse().map_err(|_| {
                    AppError::BadRequest(format!("step index {i:?} is not a number"))
                })?),
            },
        })
    }
}

/// `POST /rollouts/{ns}/{name}/actions/{action}`: with JavaScript (Accept:
/// application/json) the answer is `{"message"}` or the error; without, a
/// redirect back to the rollout's page with the outcome in the query.
pub async fn post_action(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((namespace, name, action)): Path<(String, String, String)>,
    headers: HeaderMap,
    Form(form): Form<ActionForm>,
) -> Response {
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"));
    let outcome = async {
        let request = form.request(&action)?;
        let expect = form.expectation()?;
        let done = perform(&state, &caller, &namespace, &name, &request, &expect).await?;
        Ok::<_, AppError>(done.message)
    }
    .await;
    if wants_json {
        return match outcome {
            Ok(message) => Json(json!({ "message": message })).into_response(),
            Err(e) => e.into_response(),
        };
    }
    // A code, not the text: the page maps it to its own words.
    let (key, code) = match &outcome {
        Ok(_) => ("notice", "done"),
        Err(e) => ("error", outcome_code(e)),
    };
    let base = state.base_path.trim_end_matches('/');
    let location = format!(
        "{base}/rollouts/{}/{}?{key}={code}",
        encode(&namespace),
        encode(&name),
    );
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

/// The outcome code of a form post (see `pages::outcome_text`).
fn outcome_code(e: &AppError) -> &'static str {
    match e {
        AppError::Forbidden(_) | AppError::Unauthorized(_) => "forbidden",
        AppError::Conflict(_) => "conflict",
        AppError::NotFound(_) => "not-found",
        AppError::Unprocessable(_) => "invalid",
        AppError::BadRequest(_) => "bad-request",
        AppError::GatewayTimeout(_) => "timeout",
        AppError::Unavailable(_) | AppError::TooMany(_) | AppError::AccessUnknown(_) => {
            "unavailable"
        }
        AppError::BadGateway(_) | AppError::Internal(_) => "failed",
    }
}

/// The `result` label of the actions metric.
fn outcome(
    done: &Result<crate::cluster::act::Acted, crate::cluster::act::ActError>,
) -> &'static str {
    use crate::cluster::act::ActError as E;
    match done {
        Ok(_) => "done",
        Err(E::Conflict(_)) => "conflict",
        Err(E::Invalid(_)) => "invalid",
        Err(E::Forbidden(_)) => "forbidden",
        Err(E::NotFound(_)) => "not_found",
        Err(E::Timeout(_)) => "timeout",
        Err(E::Api(_) | E::Unreachable(_) | E::Unreadable(_)) => "api_error",
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
