//! The simulated cluster's object store: every object as JSON, one global
//! resourceVersion counter, a bounded history of changes for watches, and
//! the write rules of the real API server (optimistic concurrency, status
//! subresource, generation).

use super::json::text;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Map, Value, json};
use tokio::sync::broadcast;

use super::apiserver::selectors::{FieldSelector, LabelSelector};
use super::clock::SimClock;
use super::resources::ResourceType;

/// How many changes a watch can resume from; older resourceVersions are
/// "too old" (410 Expired), as on a real server after compaction.
const HISTORY: usize = 20_000;
/// Lists in pages kept for their next page; the oldest go first (their
/// next page is 410 Expired, as on a real server after compaction).
const SNAPSHOTS: usize = 32;

/// An API error, answered as a `Status` object.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }
    pub fn not_found(rt: &ResourceType, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(rt)),
        )
    }
    pub fn conflict(rt: &ResourceType, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                qualified(rt)
            ),
        )
    }
    pub fn invalid(rt: &ResourceType, name: &str, why: &str) -> Self {
        Self::new(
            422,
            "Invalid",
            format!("{} \"{name}\" is invalid: {why}", rt.kind),
        )
    }
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// The `Status` object a real API server answers with.
    pub fn status(&self) -> Value {
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": self.message, "reason": self.reason, "code": self.code
        })
    }
}

fn qualified(rt: &ResourceType) -> String {
    if rt.group.is_empty() {
        rt.plural.to_string()
    } else {
        format!("{}.{}", rt.plural, rt.group)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as watches see it.
#[derive(Clone, Debug)]
pub struct Change {
    pub rv: u64,
    pub resource: &'static ResourceType,
    pub event: EventType,
    pub object: Arc<Value>,
}

type Key = (String, String);

struct Inner {
    rv: u64,
    objects: BTreeMap<&'static str, BTreeMap<Key, Arc<Value>>>,
    history: VecDeque<Change>,
    /// Watches from a resourceVersion below this are expired.
    oldest_resumable: u64,
    uids: u64,
    /// Lists being paged, oldest first.
    snapshots: VecDeque<Snapshot>,
    snapshots_made: u64,
}

/// A list's objects as they were at its first page, kept for the rest.
struct Snapshot {
    id: u64,
    plural: &'static str,
    rv: u64,
    items: Vec<Arc<Value>>,
}

/// Which objects a list or watch asks for.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Filter {
    pub fn matches(&self, obj: &Value) -> bool {
        let meta = obj.get("metadata");
        let ns = meta
            .and_then(|m| m.get("namespace"))
            .and_then(Value::as_str);
        if let Some(want) = &self.namespace
            && ns != Some(want.as_str())
        {
            return false;
        }
        self.labels.matches(
            meta.and_then(|m| m.get("labels"))
                .and_then(Value::as_object),
        ) && self.fields.matches(obj)
    }
}

/// A page of a list.
pub struct ListPage {
    pub items: Vec<Arc<Value>>,
    pub resource_version: u64,
    pub continue_token: Option<String>,
}

/// How a write treats `status` and metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subresource {
    Main,
    Status,
}

pub struct Store {
    inner: Mutex<Inner>,
    changes: broadcast::Sender<Change>,
    pub clock: Arc<SimClock>,
    /// What each pod's containers have written (the kubelets' logs): the
    /// API server serves them, the controller brings them up to date before
    /// it changes what a pod receives.
    pub logs: super::logs::Logs,
}

impl Store {
    pub fn new(clock: Arc<SimClock>) -> Self {
        let (changes, _) = broadcast::channel(65_536);
        Store {
            inner: Mutex::new(Inner {
                rv: 1,
                objects: BTreeMap::new(),
                history: VecDeque::new(),
                oldest_resumable: 1,
                uids: 0,
                snapshots: VecDeque::new(),
                snapshots_made: 0,
            }),
            changes,
            clock,
            logs: super::logs::Logs::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (every write
        // is applied at its end), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    /// Fault: makes every resourceVersion seen so far, the current one
    /// included, too old to resume from (the next resumed watch gets 410).
    pub fn expire_history(&self) {
        let mut inner = self.lock();
        inner.history.clear();
        inner.oldest_resumable = inner.rv + 2;
        // Compaction ends lists being paged too.
        inner.snapshots.clear();
    }

    pub fn get(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
    ) -> Result<Arc<Value>, ApiError> {
        self.lock()
            .objects
            .get(rt.plural)
            .and_then(|m| m.get(&(ns.to_string(), name.to_string())))
            .cloned()
            .ok_or_else(|| ApiError::not_found(rt, name))
    }

    /// Lists objects in key order. A list in pages is one snapshot, as on
    /// a real server (etcd serves every page at the first page's revision,
    /// and each page carries that revision): a client that watches from it
    /// sees every change made while it paged. A continue token whose
    /// snapshot is gone gets 410 Expired, as after compaction.
    pub fn list(
        &self,
        rt: &'static ResourceType,
        filter: &Filter,
        limit: Option<usize>,
        continue_token: Option<&str>,
    ) -> Result<ListPage, ApiError> {
        let limit = limit.filter(|l| *l > 0);
        let mut inner = self.lock();
        let (id, offset) = match continue_token.filter(|t| !t.is_empty()) {
            Some(t) => decode_continue(t)?,
            None => {
                let items: Vec<Arc<Value>> = inner
                    .objects
                    .get(rt.plural)
                    .into_iter()
                    .flat_map(|objects| objects.values())
                    .filter(|obj| filter.matches(obj))
                    .cloned()
                    .collect();
                let rv = inner.rv;
                if limit.is_none_or(|l| items.len() <= l) {
                    return Ok(ListPage {
                        items,
                        resource_version: rv,
                        continue_token: None,
                    });
                }
                inner.snapshots_made += 1;
                let id = inner.snapshots_made;
                if inner.snapshots.len() >= SNAPSHOTS {
                    inner.snapshots.pop_front();
                }
                inner.snapshots.push_back(Snapshot {
                    id,
                    plural: rt.plural,
                    rv,
                    items,
                });
                (id, 0)
            }
        };
        let Some(at) = inner.snapshots.iter().position(|s| s.id == id) else {
            return Err(ApiError::expired(
                "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
            ));
        };
        let snapshot = &inner.snapshots[at];
        if snapshot.plural != rt.plural {
            return Err(ApiError::bad_request(format!(
                "the continue token is for {}, not {}",
                snapshot.plural, rt.plural
            )));
        }
        let end = limit.map_or(snapshot.items.len(), |l| {
            offset.saturating_add(l).min(snapshot.items.len())
        });
        let items = snapshot.items.get(offset..end).unwrap_or_default().to_vec();
        let rv = snapshot.rv;
        let continue_token = if end < snapshot.items.len() {
            Some(encode_continue(id, end))
        } else {
            inner.snapshots.remove(at);
            None
        };
        Ok(ListPage {
            items,
            resource_version: rv,
            continue_token,
        })
    }

    /// How many lists of `plural` are part-way through their pages.
    pub fn lists_being_paged(&self, plural: &str) -> usize {
        self.lock()
            .snapshots
            .iter()
            .filter(|s| s.plural == plural)
            .count()
    }

    /// Creates an object. With `preserve`, uid, creationTimestamp and
    /// resourceVersion-independent metadata are kept as given (manifests
    /// loaded from a dump of a real cluster).
    pub fn create(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        mut obj: Value,
        preserve: bool,
    ) -> Result<Arc<Value>, ApiError> {
        let now = self.clock.now_rfc3339();
        let mut inner = self.lock();
        let meta = metadata_mut(&mut obj)?;
        if meta
            .get("name")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            match meta.get("generateName").and_then(Value::as_str) {
                Some(prefix) if !prefix.is_empty() => {
                    inner.uids += 1;
                    let name = format!("{prefix}{:05x}", inner.uids);
                    meta.insert("name".into(), Value::String(name));
                }
                _ => {
                    return Err(ApiError::invalid(
                        rt,
                        "",
                        "metadata.name: Required value: name or generateName is required",
                    ));
                }
            }
        }
        let name = meta
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if rt.namespaced {
            match meta.get("namespace").and_then(Value::as_str) {
                Some(given) if !given.is_empty() && given != ns => {
                    return Err(ApiError::bad_request(format!(
                        "the namespace of the provided object ({given}) does not match the namespace sent on the request ({ns})"
                    )));
                }
                _ => {
                    meta.insert("namespace".into(), Value::String(ns.to_string()));
                }
            }
        } else {
            meta.remove("namespace");
        }
        let key = (
            if rt.namespaced {
                ns.to_string()
            } else {
                String::new()
            },
            name.clone(),
        );
        if inner
            .objects
            .get(rt.plural)
            .is_some_and(|m| m.contains_key(&key))
        {
            return Err(ApiError::new(
                409,
                "AlreadyExists",
                format!("{} \"{name}\" already exists", qualified(rt)),
            ));
        }
        inner.uids += 1;
        let uid = format!("00000000-0000-4000-8000-{:012x}", inner.uids);
        if !preserve
            || meta
                .get("uid")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        {
            meta.insert("uid".into(), Value::String(uid));
        }
        if !preserve
            || !meta.contains_key("creationTimestamp")
            || meta["creationTimestamp"].is_null()
        {
            meta.insert("creationTimestamp".into(), Value::String(now));
        }
        if !preserve || !meta.get("generation").is_some_and(Value::is_u64) {
            meta.insert("generation".into(), json!(1));
        }
        meta.remove("managedFields");
        if !preserve
            && rt.status_subresource
            && let Some(m) = obj.as_object_mut()
        {
            // As on a real server, a create ignores status for types with
            // the status subresource; a loaded dump keeps it.
            m.remove("status");
        }
        set_type_meta(&mut obj, rt);
        Ok(inner.commit(&self.changes, rt, key, obj, EventType::Added))
    }

    /// PUT: replaces the object. A `metadata.resourceVersion` in the body must
    /// equal the stored one.
    pub fn update(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        obj: Value,
        sub: Subresource,
    ) -> Result<Arc<Value>, ApiError> {
        let mut inner = self.lock();
        let (key, current) = inner.current(rt, ns, name)?;
        check_resource_version(rt, name, &obj, &current)?;
        let next = merge_write(rt, &current, obj, sub)?;
        Ok(inner.commit(&self.changes, rt, key, next, EventType::Modified))
    }

    /// PATCH: `apply` edits a copy of the stored object; the result is then
    /// written under the same rules as an update.
    pub fn patch(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        sub: Subresource,
        apply: impl FnOnce(&mut Value) -> Result<(), ApiError>,
    ) -> Result<Arc<Value>, ApiError> {
        let mut inner = self.lock();
        let (key, current) = inner.current(rt, ns, name)?;
        let mut patched = (*current).clone();
        apply(&mut patched)?;
        check_resource_version(rt, name, &patched, &current)?;
        let next = merge_write(rt, &current, patched, sub)?;
        if next == *current {
            // A no-op patch changes nothing and sends no event.
            return Ok(current);
        }
        Ok(inner.commit(&self.changes, rt, key, next, EventType::Modified))
    }

    pub fn delete(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
    ) -> Result<Arc<Value>, ApiError> {
        let mut inner = self.lock();
        let (key, current) = inner.current(rt, ns, name)?;
        if let Some(m) = inner.objects.get_mut(rt.plural) {
            m.remove(&key);
        }
        inner.rv += 1;
        let rv = inner.rv;
        let mut gone = (*current).clone();
        set_resource_version(&mut gone, rv);
        let gone = Arc::new(gone);
        inner.record(
            &self.changes,
            Change {
                rv,
                resource: rt,
                event: EventType::Deleted,
                object: gone.clone(),
            },
        );
        Ok(gone)
    }

    /// Starts a watch: the changes after `from` that match (or, with `None`,
    /// the current objects as ADDED), and a receiver for what follows. Both
    /// are taken under one lock so nothing falls between them.
    pub fn watch(
        &self,
        rt: &'static ResourceType,
        filter: &Filter,
        from: Option<u64>,
    ) -> Result<(Vec<Change>, u64, broadcast::Receiver<Change>), ApiError> {
        let inner = self.lock();
        let rx = self.changes.subscribe();
        let backlog = match from {
            None => inner
                .objects
                .get(rt.plural)
                .map(|m| {
                    m.values()
                        .filter(|o| filter.matches(o))
                        .map(|o| Change {
                            rv: object_rv(o),
                            resource: rt,
                            event: EventType::Added,
                            object: o.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            Some(rv) if rv.saturating_add(1) < inner.oldest_resumable => {
                return Err(ApiError::expired(format!(
                    "too old resource version: {rv} ({})",
                    inner.oldest_resumable - 1
                )));
            }
            Some(rv) => inner
                .history
                .iter()
                .filter(|c| {
                    c.rv > rv && c.resource.plural == rt.plural && filter.matches(&c.object)
                })
                .cloned()
                .collect(),
        };
        Ok((backlog, inner.rv, rx))
    }
}

impl Inner {
    fn current(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
    ) -> Result<(Key, Arc<Value>), ApiError> {
        let key = (
            if rt.namespaced {
                ns.to_string()
            } else {
                String::new()
            },
            name.to_string(),
        );
        let obj = self
            .objects
            .get(rt.plural)
            .and_then(|m| m.get(&key))
            .cloned()
            .ok_or_else(|| ApiError::not_found(rt, name))?;
        Ok((key, obj))
    }

    fn commit(
        &mut self,
        tx: &broadcast::Sender<Change>,
        rt: &'static ResourceType,
        key: Key,
        mut obj: Value,
        event: EventType,
    ) -> Arc<Value> {
        self.rv += 1;
        set_resource_version(&mut obj, self.rv);
        let obj = Arc::new(obj);
        self.objects
            .entry(rt.plural)
            .or_default()
            .insert(key, obj.clone());
        self.record(
            tx,
            Change {
                rv: self.rv,
                resource: rt,
                event,
                object: obj.clone(),
            },
        );
        obj
    }

    fn record(&mut self, tx: &broadcast::Sender<Change>, change: Change) {
        if self.history.len() >= HISTORY
            && let Some(old) = self.history.pop_front()
        {
            self.oldest_resumable = old.rv + 1;
        }
        self.history.push_back(change.clone());
        // No receivers is fine: nobody is watching.
        let _ = tx.send(change);
    }
}

fn metadata_mut(obj: &mut Value) -> Result<&mut Map<String, Value>, ApiError> {
    let map = obj
        .as_object_mut()
        .ok_or_else(|| ApiError::bad_request("the object is not a JSON object"))?;
    let meta = map.entry("metadata").or_insert_with(|| json!({}));
    if meta.is_null() {
        *meta = json!({});
    }
    meta.as_object_mut()
        .ok_or_else(|| ApiError::bad_request("metadata is not an object"))
}

fn set_type_meta(obj: &mut Value, rt: &ResourceType) {
    if let Some(map) = obj.as_object_mut() {
        map.entry("apiVersion")
            .or_insert_with(|| Value::String(rt.api_version(rt.versions[0])));
        map.insert("kind".into(), Value::String(rt.kind.to_string()));
    }
}

fn set_resource_version(obj: &mut Value, rv: u64) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
}

pub fn object_rv(obj: &Value) -> u64 {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn check_resource_version(
    rt: &ResourceType,
    name: &str,
    incoming: &Value,
    current: &Value,
) -> Result<(), ApiError> {
    match incoming.pointer("/metadata/resourceVersion") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if s.is_empty() => Ok(()),
        Some(v) if Some(v) == current.pointer("/metadata/resourceVersion") => Ok(()),
        Some(Value::String(_)) => Err(ApiError::conflict(rt, name)),
        Some(_) => Err(ApiError::bad_request(
            "metadata.resourceVersion must be a string",
        )),
    }
}

/// The object a write stores: the status subresource takes only `status`,
/// the main resource keeps the stored `status` (when the type has the
/// subresource); identity metadata never changes; `generation` counts spec
/// changes.
fn merge_write(
    rt: &'static ResourceType,
    current: &Value,
    incoming: Value,
    sub: Subresource,
) -> Result<Value, ApiError> {
    let name = text(current, "/metadata/name");
    if !incoming.is_object() {
        return Err(ApiError::bad_request("the object is not a JSON object"));
    }
    let mut next = match sub {
        Subresource::Status => {
            let mut next = current.clone();
            match incoming.get("status") {
                Some(status) => next["status"] = status.clone(),
                None => {
                    if let Some(m) = next.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
            next
        }
        Subresource::Main => {
            let mut next = incoming;
            if rt.status_subresource {
                match current.get("status") {
                    Some(status) => next["status"] = status.clone(),
                    None => {
                        if let Some(m) = next.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
            }
            next
        }
    };
    let cur_meta = current
        .get("metadata")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let meta = metadata_mut(&mut next)?;
    if meta
        .get("name")
        .and_then(Value::as_str)
        .is_some_and(|n| n != name)
    {
        return Err(ApiError::bad_request(
            "the name of the object does not match the name on the URL",
        ));
    }
    for key in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "generation",
    ] {
        match cur_meta.get(key) {
            Some(v) => {
                meta.insert(key.into(), v.clone());
            }
            None => {
                meta.remove(key);
            }
        }
    }
    meta.remove("managedFields");
    if current.get("spec") != next.get("spec") {
        let generation = cur_meta
            .get("generation")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            + 1;
        next["metadata"]["generation"] = json!(generation);
    }
    set_type_meta(&mut next, rt);
    if let Some(m) = next.as_object_mut() {
        m.insert(
            "apiVersion".into(),
            current.get("apiVersion").cloned().unwrap_or(Value::Null),
        );
    }
    Ok(next)
}

fn encode_continue(snapshot: u64, offset: usize) -> String {
    format!("{snapshot}.{offset}")
}

fn decode_continue(token: &str) -> Result<(u64, usize), ApiError> {
    token
        .split_once('.')
        .and_then(|(id, offset)| Some((id.parse().ok()?, offset.parse().ok()?)))
        .ok_or_else(|| ApiError::bad_request(format!("invalid continue token {token:?}")))
}
