//! Who owns whom, in memory: every watched object by key, by uid and by
//! owner uid, so that a change to one pod marks only its rollout dirty and a
//! rebuild gathers exactly that rollout's objects. Pure data, no I/O: the
//! hub feeds it and asks it to build RolloutInfo.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use crate::info::{self, EventInfo, PodRecord, RolloutInfo, RolloutObjects};
use crate::model::{
    AnalysisRun, Deployment, DestinationRule, Event, Experiment, GatewayRoute, Ingress, ObjectKey,
    ObjectMeta, ReplicaSet, Rollout, RolloutKey, RouteKind, VirtualService,
};

use super::object::{Kind, Object};

/// Events kept per rollout (the oldest go first).
const EVENTS_PER_ROLLOUT: usize = 30;
/// Events shown per rollout.
const EVENTS_SHOWN: usize = 10;

/// Objects of one kind by key, with lookups by uid and by owner uid.
///
/// Objects are boxed so the map's nodes hold pointers, not half-empty
/// slots of a few hundred bytes each, and the uid lookups keep a short
/// `Vec` (usually one key): a one-element `BTreeSet` costs a whole node
/// (~600 bytes). Together that was over half the heap at 5000 rollouts.
/// `BY_UID` is off where nothing looks objects up by their own uid (pods,
/// the most numerous kind). Each key is allocated once and shared by the
/// lookups: a copy of its two strings in each was 40 MB at 20,000 rollouts.
struct Table<T, const BY_UID: bool = true> {
    objects: BTreeMap<Arc<ObjectKey>, Box<T>>,
    /// A list, not one key: a dump of test objects may reuse a uid.
    by_uid: HashMap<Box<str>, Vec<Arc<ObjectKey>>>,
    by_owner: HashMap<Box<str>, Vec<Arc<ObjectKey>>>,
}

impl<T, const BY_UID: bool> Default for Table<T, BY_UID> {
    fn default() -> Self {
        Table {
            objects: BTreeMap::new(),
            by_uid: HashMap::new(),
            by_owner: HashMap::new(),
        }
    }
}

fn owner_uids(meta: &ObjectMeta) -> impl Iterator<Item = &str> {
    meta.owner_references
        .iter()
        .flatten()
        .map(|o| o.uid.as_str())
}

/// What the index needs of a stored object: its key, uid and owners.
trait Stored {
    fn key(&self) -> ObjectKey;
    /// The key as the table files it (a pod's own, shared).
    fn shared_key(&self) -> Arc<ObjectKey> {
        Arc::new(self.key())
    }
    fn uid(&self) -> Option<&str>;
    fn owners(&self) -> Vec<&str>;
}

macro_rules! stored_by_metadata {
    ($($t:ty),*) => {$(
        impl Stored for $t {
            fn key(&self) -> ObjectKey {
                ObjectKey::of(&self.metadata)
            }
            fn uid(&self) -> Option<&str> {
                self.metadata.uid.as_deref()
            }
            fn owners(&self) -> Vec<&str> {
                owner_uids(&self.metadata).collect()
            }
        }
    )*};
}

stored_by_metadata!(
    Rollout,
    ReplicaSet,
    AnalysisRun,
    Experiment,
    VirtualService,
    DestinationRule,
    Deployment,
    Event,
    Ingress,
    GatewayRoute
);

impl Stored for PodRecord {
    fn key(&self) -> ObjectKey {
        (*self.key).clone()
    }
    fn shared_key(&self) -> Arc<ObjectKey> {
        self.key.clone()
    }
    fn uid(&self) -> Option<&str> {
        Some(&self.uid)
    }
    fn owners(&self) -> Vec<&str> {
        self.owners.iter().map(String::as_str).collect()
    }
}

/// Adds `key` under `id` once.
fn link(map: &mut HashMap<Box<str>, Vec<Arc<ObjectKey>>>, id: &str, key: &Arc<ObjectKey>) {
    let keys = map.entry(id.into()).or_default();
    if !keys.iter().any(|k| k == key) {
        keys.push(key.clone());
        keys.shrink_to_fit();
    }
}

/// Removes `key` from under `id`, and `id` once nothing is left under it.
fn unlink(map: &mut HashMap<Box<str>, Vec<Arc<ObjectKey>>>, id: &str, key: &ObjectKey) {
    if let Some(keys) = map.get_mut(id) {
        keys.retain(|k| **k != *key);
        if keys.is_empty() {
            map.remove(id);
        }
    }
}

impl<T: Stored, const BY_UID: bool> Table<T, BY_UID> {
    /// Stores `obj`, returning the version it replaces.
    fn insert(&mut self, obj: Box<T>) -> Option<Box<T>> {
        let key = obj.shared_key();
        let old = self.remove(&key);
        if let Some(uid) = obj.uid().filter(|u| BY_UID && !u.is_empty()) {
            link(&mut self.by_uid, uid, &key);
        }
        for owner in obj.owners() {
            link(&mut self.by_owner, owner, &key);
        }
        self.objects.insert(key, obj);
        old
    }

    fn remove(&mut self, key: &ObjectKey) -> Option<Box<T>> {
        let old = self.objects.remove(key)?;
        if let Some(uid) = old.uid() {
            unlink(&mut self.by_uid, uid, key);
        }
        for owner in old.owners() {
            unlink(&mut self.by_owner, owner, key);
        }
        Some(old)
    }

    fn get(&self, key: &ObjectKey) -> Option<&T> {
        self.objects.get(key).map(|o| &**o)
    }

    fn by_uid<'a>(&'a self, uid: &str) -> impl Iterator<Item = &'a T> + 'a {
        self.by_uid
            .get(uid)
            .into_iter()
            .flatten()
            .filter_map(|k| self.get(k))
    }

    fn owned_by<'a>(&'a self, uid: &str) -> impl Iterator<Item = &'a T> + 'a {
        self.by_owner
            .get(uid)
            .into_iter()
            .flatten()
            .filter_map(|k| self.get(k))
    }

    /// Every object in `namespace`.
    fn in_namespace<'a>(&'a self, ns: &'a str) -> impl Iterator<Item = &'a T> + 'a {
        self.objects
            .range::<ObjectKey, _>(ObjectKey::new(ns, "")..)
            .take_while(move |(k, _)| k.namespace == ns)
            .map(|(_, o)| &**o)
    }

    /// Keys in `namespace` (every key when `None`) that `seen` lacks.
    fn unseen_in(&self, namespace: Option<&str>, seen: &HashSet<ObjectKey>) -> Vec<ObjectKey> {
        let keys: Box<dyn Iterator<Item = &Arc<ObjectKey>>> = match namespace {
            None => Box::new(self.objects.keys()),
            Some(ns) => Box::new(
                self.objects
                    .range::<ObjectKey, _>(ObjectKey::new(ns, "")..)
                    .take_while(move |(k, _)| k.namespace == ns)
                    .map(|(k, _)| k),
            ),
        };
        keys.filter(|k| !seen.contains(&***k))
            .map(|k| (**k).clone())
            .collect()
    }
}

/// Kinds watched only once some rollout needs them: Deployments
/// (`workloadRef`), Ingresses (NGINX, ALB), Gateway API routes (the plugin).
/// A cluster without them, or a dashboard not allowed to read them, shows
/// nothing about them until then.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wants {
    pub deployments: bool,
    pub ingresses: bool,
    pub routes: bool,
}

impl Wants {
    /// Each wanted here or in `other`: what is watched never stops.
    pub fn or(self, other: Wants) -> Wants {
        Wants {
            deployments: self.deployments || other.deployments,
            ingresses: self.ingresses || other.ingresses,
            routes: self.routes || other.routes,
        }
    }
}

/// What a rebuild of one rollout gives.
#[derive(Clone, Debug, PartialEq)]
pub enum Built {
    Info {
        info: Box<RolloutInfo>,
        events: Vec<EventInfo>,
    },
    /// The Rollout object itself could not be read.
    Invalid {
        meta: Box<ObjectMeta>,
        error: String,
        events: Vec<EventInfo>,
    },
}

/// An object that could not be read, for the connection state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed {
    pub kind: Kind,
    pub key: ObjectKey,
    pub error: String,
}

#[derive(Default)]
pub struct Index {
    rollouts: Table<Rollout>,
    invalid_rollouts: BTreeMap<RolloutKey, (ObjectMeta, String)>,
    replica_sets: Table<ReplicaSet>,
    pods: Table<PodRecord, false>,
    analysis_runs: Table<AnalysisRun>,
    experiments: Table<Experiment>,
    virtual_services: Table<VirtualService>,
    destination_rules: Table<DestinationRule>,
    ingresses: Table<Ingress>,
    /// Gateway API routes, one table per kind (names are per kind).
    routes: [Table<GatewayRoute>; 4],
    deployments: Table<Deployment>,
    events: Table<Event>,
    events_by_rollout: HashMap<RolloutKey, BTreeSet<ObjectKey>>,
    /// VirtualService / DestinationRule / Deployment key → rollouts naming it.
    vs_refs: HashMap<ObjectKey, BTreeSet<RolloutKey>>,
    dr_refs: HashMap<ObjectKey, BTreeSet<RolloutKey>>,
    workload_refs: HashMap<ObjectKey, BTreeSet<RolloutKey>>,
    /// Ingress key → rollouts whose split it holds (NGINX canary, ALB).
    ingress_refs: HashMap<ObjectKey, BTreeSet<RolloutKey>>,
    /// Route (kind, key) → rollouts naming it.
    route_refs: HashMap<(RouteKind, ObjectKey), BTreeSet<RolloutKey>>,
    /// Namespace → rollouts choosing routes there by labels.
    route_selector_refs: HashMap<String, BTreeSet<RolloutKey>>,
    malformed: BTreeMap<(Kind, ObjectKey), String>,
}

impl Index {
    /// Stores an added or modified object; returns the rollouts it affects.
    pub fn apply(&mut self, obj: Object) -> BTreeSet<RolloutKey> {
        let kind = obj.kind();
        let key = obj.key();
        let mut affected = BTreeSet::new();
        if !matches!(obj, Object::Invalid { .. }) {
            self.malformed.remove(&(kind, key.clone()));
        }
        match obj {
            Object::Rollout(ro) => {
                self.invalid_rollouts.remove(&key);
                if let Some(old) = self.rollouts.get(&key) {
                    let old = old.clone();
                    self.unlink_references(&key, &old);
                }
                self.link_references(&key, &ro);
                self.rollouts.insert(ro);
                affected.insert(key);
            }
            Object::Invalid {
                kind: Kind::Rollout,
                metadata,
                error,
            } => {
                if let Some(old) = self.rollouts.remove(&key) {
                    self.unlink_references(&key, &old);
                }
                self.malformed
                    .insert((Kind::Rollout, key.clone()), error.clone());
                self.invalid_rollouts
                    .insert(key.clone(), (*metadata, error));
                affected.insert(key);
            }
            Object::Invalid { kind, error, .. } => {
                affected = self.delete(kind, &key);
                self.malformed.insert((kind, key), error);
            }
            Object::ReplicaSet(o) => {
                affected.extend(self.rollouts_of_owners(&o.metadata));
                if let Some(old) = self.replica_sets.insert(o) {
                    affected.extend(self.rollouts_of_owners(&old.metadata));
                }
            }
            Object::Pod(o) => {
                affected.extend(self.rollouts_of_pod(&o));
                if let Some(old) = self.pods.insert(o) {
                    affected.extend(self.rollouts_of_pod(&old));
                }
            }
            Object::AnalysisRun(o) => {
                affected.extend(self.rollouts_of_owners(&o.metadata));
                if let Some(old) = self.analysis_runs.insert(o) {
                    affected.extend(self.rollouts_of_owners(&old.metadata));
                }
            }
            Object::Experiment(o) => {
                affected.extend(self.rollouts_of_owners(&o.metadata));
                if let Some(old) = self.experiments.insert(o) {
                    affected.extend(self.rollouts_of_owners(&old.metadata));
                }
            }
            Object::VirtualService(o) => {
                affected.extend(self.vs_refs.get(&key).into_iter().flatten().cloned());
                self.virtual_services.insert(o);
            }
            Object::DestinationRule(o) => {
                affected.extend(self.dr_refs.get(&key).into_iter().flatten().cloned());
                self.destination_rules.insert(o);
            }
            Object::Deployment(o) => {
                affected.extend(self.workload_refs.get(&key).into_iter().flatten().cloned());
                self.deployments.insert(o);
            }
            Object::Ingress(o) => {
                affected.extend(self.ingress_refs.get(&key).into_iter().flatten().cloned());
                self.ingresses.insert(o);
            }
            Object::Route(o) => {
                let route_kind = o.route_kind;
                affected.extend(self.rollouts_of_route(route_kind, &key));
                self.routes[route_kind as usize].insert(o);
            }
            Object::Event(o) => {
                if let Some(old) = self.events.get(&key) {
                    let old_target = event_rollout(old);
                    self.forget_event(&old_target, &key);
                    affected.insert(old_target);
                }
                let target = event_rollout(&o);
                self.events.insert(o);
                self.events_by_rollout
                    .entry(target.clone())
                    .or_default()
                    .insert(key);
                self.trim_events(&target);
                affected.insert(target);
            }
        }
        affected
    }

    /// Forgets an object; returns the rollouts it affected.
    pub fn delete(&mut self, kind: Kind, key: &ObjectKey) -> BTreeSet<RolloutKey> {
        self.malformed.remove(&(kind, key.clone()));
        let mut affected = BTreeSet::new();
        match kind {
            Kind::Rollout => {
                if let Some(old) = self.rollouts.remove(key) {
                    self.unlink_references(key, &old);
                }
                self.invalid_rollouts.remove(key);
                affected.insert(key.clone());
            }
            Kind::ReplicaSet => {
                if let Some(old) = self.replica_sets.remove(key) {
                    affected.extend(self.rollouts_of_owners(&old.metadata));
                }
            }
            Kind::Pod => {
                if let Some(old) = self.pods.remove(key) {
                    affected.extend(self.rollouts_of_pod(&old));
                }
            }
            Kind::AnalysisRun => {
                if let Some(old) = self.analysis_runs.remove(key) {
                    affected.extend(self.rollouts_of_owners(&old.metadata));
                }
            }
            Kind::Experiment => {
                if let Some(old) = self.experiments.remove(key) {
                    affected.extend(self.rollouts_of_owners(&old.metadata));
                }
            }
            Kind::VirtualService => {
                if self.virtual_services.remove(key).is_some() {
                    affected.extend(self.vs_refs.get(key).into_iter().flatten().cloned());
                }
            }
            Kind::DestinationRule => {
                if self.destination_rules.remove(key).is_some() {
                    affected.extend(self.dr_refs.get(key).into_iter().flatten().cloned());
                }
            }
            Kind::Deployment => {
                if self.deployments.remove(key).is_some() {
                    affected.extend(self.workload_refs.get(key).into_iter().flatten().cloned());
                }
            }
            Kind::Ingress => {
                if self.ingresses.remove(key).is_some() {
                    affected.extend(self.ingress_refs.get(key).into_iter().flatten().cloned());
                }
            }
            Kind::HttpRoute | Kind::GrpcRoute | Kind::TcpRoute | Kind::TlsRoute => {
                if let Some(rk) = kind.route_kind()
                    && self.routes[rk as usize].remove(key).is_some()
                {
                    affected.extend(self.rollouts_of_route(rk, key));
                }
            }
            Kind::Event => {
                if let Some(old) = self.events.remove(key) {
                    let target = event_rollout(&old);
                    self.forget_event(&target, key);
                    affected.insert(target);
                }
            }
        }
        affected
    }

    /// Every stored key of `kind` in `namespace` (all when `None`), readable
    /// or not, that `seen` does not hold: what a relist did not deliver
    /// again. Only those are copied (a relist of 25,000 pods copied every
    /// key twice to find the few gone).
    pub fn unseen(
        &self,
        kind: Kind,
        namespace: Option<&str>,
        seen: &HashSet<ObjectKey>,
    ) -> Vec<ObjectKey> {
        let mut keys = match kind {
            Kind::Rollout => self.rollouts.unseen_in(namespace, seen),
            Kind::ReplicaSet => self.replica_sets.unseen_in(namespace, seen),
            Kind::Pod => self.pods.unseen_in(namespace, seen),
            Kind::AnalysisRun => self.analysis_runs.unseen_in(namespace, seen),
            Kind::Experiment => self.experiments.unseen_in(namespace, seen),
            Kind::VirtualService => self.virtual_services.unseen_in(namespace, seen),
            Kind::DestinationRule => self.destination_rules.unseen_in(namespace, seen),
            Kind::Deployment => self.deployments.unseen_in(namespace, seen),
            Kind::Event => self.events.unseen_in(namespace, seen),
            Kind::Ingress => self.ingresses.unseen_in(namespace, seen),
            Kind::HttpRoute | Kind::GrpcRoute | Kind::TcpRoute | Kind::TlsRoute => {
                match kind.route_kind() {
                    Some(rk) => self.routes[rk as usize].unseen_in(namespace, seen),
                    None => Vec::new(),
                }
            }
        };
        keys.extend(
            self.malformed
                .keys()
                .filter(|(k, key)| {
                    *k == kind
                        && namespace.is_none_or(|ns| key.namespace == ns)
                        && !seen.contains(key)
                })
                .map(|(_, key)| key.clone()),
        );
        keys.sort();
        keys.dedup();
        keys
    }

    /// Every rollout known, readable or not.
    pub fn rollout_keys(&self) -> BTreeSet<RolloutKey> {
        self.rollouts
            .objects
            .keys()
            .map(|k| &**k)
            .chain(self.invalid_rollouts.keys())
            .cloned()
            .collect()
    }

    /// Which optional kinds some rollout needs watched.
    pub fn wants(&self) -> Wants {
        Wants {
            deployments: !self.workload_refs.is_empty(),
            ingresses: !self.ingress_refs.is_empty(),
            routes: !self.route_refs.is_empty() || !self.route_selector_refs.is_empty(),
        }
    }

    pub fn malformed(&self) -> Vec<Malformed> {
        self.malformed
            .iter()
            .map(|((kind, key), error)| Malformed {
                kind: *kind,
                key: key.clone(),
                error: error.clone(),
            })
            .collect()
    }

    /// The rollout's view now, or `None` when it is gone.
    pub fn build(&self, key: &RolloutKey) -> Option<Built> {
        let events = self.recent_events(key);
        if let Some((meta, error)) = self.invalid_rollouts.get(key) {
            return Some(Built::Invalid {
                meta: Box::new(meta.clone()),
                error: error.clone(),
                events,
            });
        }
        let ro = self.rollouts.get(key)?;
        let uid = ro.metadata.uid.as_deref().unwrap_or_default();
        let experiments: Vec<&Experiment> = self.experiments.owned_by(uid).collect();
        // The rollout's own objects and those of its experiments.
        let owners: Vec<&str> = std::iter::once(uid)
            .chain(experiments.iter().filter_map(|e| e.metadata.uid.as_deref()))
            .filter(|u| !u.is_empty())
            .collect();
        let replica_sets: Vec<&ReplicaSet> = owners
            .iter()
            .flat_map(|o| self.replica_sets.owned_by(o))
            .collect();
        let pods: Vec<&PodRecord> = replica_sets
            .iter()
            .filter_map(|r| r.metadata.uid.as_deref())
            .flat_map(|rs_uid| self.pods.owned_by(rs_uid))
            .collect();
        let analysis_runs: Vec<&AnalysisRun> = owners
            .iter()
            .flat_map(|o| self.analysis_runs.owned_by(o))
            .collect();
        let refs = info::istio_references(ro);
        let virtual_services: Vec<&VirtualService> = refs
            .virtual_services
            .iter()
            .filter_map(|k| self.virtual_services.get(k))
            .collect();
        let destination_rules: Vec<&DestinationRule> = refs
            .destination_rule
            .iter()
            .filter_map(|k| self.destination_rules.get(k))
            .collect();
        let router_refs = info::routers::router_references(ro);
        let ingresses: Vec<&Ingress> = router_refs
            .ingresses
            .iter()
            .filter_map(|k| self.ingresses.get(k))
            .collect();
        let mut routes: Vec<&GatewayRoute> = router_refs
            .routes
            .iter()
            .filter_map(|(rk, k)| self.routes[*rk as usize].get(k))
            .collect();
        for (rk, ns, _) in &router_refs.route_selectors {
            routes.extend(self.routes[*rk as usize].in_namespace(ns));
        }
        let deployments: Vec<&Deployment> = workload_key(ro)
            .and_then(|k| self.deployments.get(&k))
            .into_iter()
            .collect();
        let info = info::rollout_info(RolloutObjects {
            rollout: ro,
            replica_sets: &replica_sets,
            pods: &pods,
            analysis_runs: &analysis_runs,
            experiments: &experiments,
            virtual_services: &virtual_services,
            destination_rules: &destination_rules,
            ingresses: &ingresses,
            routes: &routes,
            deployments: &deployments,
        });
        Some(Built::Info {
            info: Box::new(info),
            events,
        })
    }

    fn recent_events(&self, key: &RolloutKey) -> Vec<EventInfo> {
        let events: Vec<&Event> = self
            .events_by_rollout
            .get(key)
            .into_iter()
            .flatten()
            .filter_map(|k| self.events.get(k))
            .collect();
        info::recent_events(&events, EVENTS_SHOWN)
    }

    /// Rollouts owning an object directly or through an Experiment.
    fn rollouts_of_owners(&self, meta: &ObjectMeta) -> Vec<RolloutKey> {
        let mut out = Vec::new();
        for uid in owner_uids(meta) {
            out.extend(
                self.rollouts
                    .by_uid(uid)
                    .map(|ro| ObjectKey::of(&ro.metadata)),
            );
            for ex in self.experiments.by_uid(uid) {
                out.extend(
                    owner_uids(&ex.metadata)
                        .flat_map(|u| self.rollouts.by_uid(u))
                        .map(|ro| ObjectKey::of(&ro.metadata)),
                );
            }
        }
        out
    }

    /// Rollouts owning a pod through its ReplicaSet.
    fn rollouts_of_pod(&self, pod: &PodRecord) -> Vec<RolloutKey> {
        pod.owners
            .iter()
            .flat_map(|uid| self.replica_sets.by_uid(uid))
            .flat_map(|rs| self.rollouts_of_owners(&rs.metadata))
            .collect()
    }

    fn link_references(&mut self, key: &RolloutKey, ro: &Rollout) {
        for (which, target) in references(ro) {
            self.refs_mut(which)
                .entry(target)
                .or_default()
                .insert(key.clone());
        }
        let routers = info::routers::router_references(ro);
        for (rk, target) in routers.routes {
            self.route_refs
                .entry((rk, target))
                .or_default()
                .insert(key.clone());
        }
        for (_, ns, _) in routers.route_selectors {
            self.route_selector_refs
                .entry(ns)
                .or_default()
                .insert(key.clone());
        }
    }

    fn unlink_references(&mut self, key: &RolloutKey, ro: &Rollout) {
        for (which, target) in references(ro) {
            forget(self.refs_mut(which), &target, key);
        }
        let routers = info::routers::router_references(ro);
        for (rk, target) in routers.routes {
            forget(&mut self.route_refs, &(rk, target), key);
        }
        for (_, ns, _) in routers.route_selectors {
            forget(&mut self.route_selector_refs, &ns, key);
        }
    }

    /// Rollouts that name a route, or choose routes by labels in its namespace.
    fn rollouts_of_route(&self, kind: RouteKind, key: &ObjectKey) -> Vec<RolloutKey> {
        self.route_refs
            .get(&(kind, key.clone()))
            .into_iter()
            .flatten()
            .chain(
                self.route_selector_refs
                    .get(&key.namespace)
                    .into_iter()
                    .flatten(),
            )
            .cloned()
            .collect()
    }

    fn refs_mut(&mut self, which: Ref) -> &mut HashMap<ObjectKey, BTreeSet<RolloutKey>> {
        match which {
            Ref::Vs => &mut self.vs_refs,
            Ref::Dr => &mut self.dr_refs,
            Ref::Workload => &mut self.workload_refs,
            Ref::Ingress => &mut self.ingress_refs,
        }
    }

    fn forget_event(&mut self, target: &RolloutKey, key: &ObjectKey) {
        if let Some(set) = self.events_by_rollout.get_mut(target) {
            set.remove(key);
            if set.is_empty() {
                self.events_by_rollout.remove(target);
            }
        }
    }

    /// Keeps memory bounded however chatty a rollout's events are.
    fn trim_events(&mut self, target: &RolloutKey) {
        let Some(keys) = self.events_by_rollout.get(target) else {
            return;
        };
        if keys.len() <= EVENTS_PER_ROLLOUT {
            return;
        }
        let mut by_age: Vec<(Option<jiff::Timestamp>, ObjectKey)> = keys
            .iter()
            .map(|k| (self.events.get(k).and_then(Event::last_seen), k.clone()))
            .collect();
        by_age.sort();
        let excess = by_age.len() - EVENTS_PER_ROLLOUT;
        for (_, k) in by_age.into_iter().take(excess) {
            self.events.remove(&k);
            self.forget_event(target, &k);
        }
    }
}

#[derive(Clone, Copy)]
enum Ref {
    Vs,
    Dr,
    Workload,
    Ingress,
}

/// Takes `key` out of the set of rollouts under `target`.
fn forget<T: std::hash::Hash + Eq>(
    map: &mut HashMap<T, BTreeSet<RolloutKey>>,
    target: &T,
    key: &RolloutKey,
) {
    if let Some(set) = map.get_mut(target) {
        set.remove(key);
        if set.is_empty() {
            map.remove(target);
        }
    }
}

/// Every object outside its own ownership tree that a rollout's view reads.
fn references(ro: &Rollout) -> Vec<(Ref, ObjectKey)> {
    let refs = info::istio_references(ro);
    let vs = refs.virtual_services.into_iter().map(|k| (Ref::Vs, k));
    let dr = refs.destination_rule.into_iter().map(|k| (Ref::Dr, k));
    let wl = workload_key(ro).into_iter().map(|k| (Ref::Workload, k));
    let ingresses = info::routers::router_references(ro)
        .ingresses
        .into_iter()
        .map(|k| (Ref::Ingress, k));
    vs.chain(dr).chain(wl).chain(ingresses).collect()
}

/// The Deployment a rollout's `spec.workloadRef` names (Argo looks the name
/// up among Deployments whatever the kind says).
fn workload_key(ro: &Rollout) -> Option<ObjectKey> {
    let name = ro.spec().workload_ref.as_ref()?.name.as_deref()?;
    Some(ObjectKey::new(
        ro.metadata.namespace.clone().unwrap_or_default(),
        name,
    ))
}

/// The rollout an Event is about.
fn event_rollout(ev: &Event) -> RolloutKey {
    let involved = ev.involved_object.as_ref();
    ObjectKey::new(
        involved
            .and_then(|o| o.namespace.clone())
            .or_else(|| ev.metadata.namespace.clone())
            .unwrap_or_default(),
        involved.and_then(|o| o.name.clone()).unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn typed<T: serde::de::DeserializeOwned>(v: Value) -> Box<T> {
        Box::new(serde_json::from_value(v).unwrap_or_else(|e| panic!("test object: {e}")))
    }

    fn rollout(name: &str, vs: Option<&str>) -> Object {
        let mut spec = json!({"strategy": {"canary": {"steps": [{"setWeight": 20}]}}});
        if let Some(vs) = vs {
            spec["strategy"]["canary"]["trafficRouting"] =
                json!({"istio": {"virtualService": {"name": vs, "routes": ["primary"]}}});
        }
        Object::Rollout(typed(json!({
            "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}")},
            "spec": spec,
        })))
    }

    fn owned(name: &str, owner: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}"),
               "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": owner,
                                    "uid": format!("uid-{owner}")}]}})
    }

    fn keys(names: &[&str]) -> BTreeSet<RolloutKey> {
        names.iter().map(|n| ObjectKey::new("ns", *n)).collect()
    }

    #[test]
    fn a_pod_change_marks_only_its_rollout_even_when_it_came_first() {
        let mut index = Index::default();
        index.apply(rollout("a", None));
        index.apply(rollout("b", None));
        index.apply(Object::ReplicaSet(typed(owned("b-rs", "b"))));
        // a's pod arrives before a's ReplicaSet: nothing to rebuild yet.
        assert!(
            index
                .apply(Object::Pod(Box::new(PodRecord::of(&typed(owned(
                    "a-pod", "a-rs"
                ))))))
                .is_empty()
        );
        assert_eq!(
            index.apply(Object::ReplicaSet(typed(owned("a-rs", "a")))),
            keys(&["a"])
        );
        assert_eq!(
            index.apply(Object::Pod(Box::new(PodRecord::of(&typed(owned(
                "a-pod", "a-rs"
            )))))),
            keys(&["a"])
        );
        let Some(Built::Info { info, .. }) = index.build(&ObjectKey::new("ns", "a")) else {
            panic!("a is built");
        };
        assert_eq!(info.replica_sets.len(), 1);
        assert_eq!(info.replica_sets[0].pods.len(), 1, "the early pod is kept");
        assert_eq!(
            index.delete(Kind::ReplicaSet, &ObjectKey::new("ns", "b-rs")),
            keys(&["b"])
        );
    }

    #[test]
    fn a_virtualservice_change_marks_the_rollouts_that_name_it() {
        let mut index = Index::default();
        index.apply(rollout("a", Some("shared-vs")));
        index.apply(rollout("b", Some("other-vs.other-ns")));
        index.apply(rollout("c", None));
        let vs = |name: &str, ns: &str| {
            Object::VirtualService(typed(json!({"metadata": {"name": name, "namespace": ns}})))
        };
        assert_eq!(index.apply(vs("shared-vs", "ns")), keys(&["a"]));
        let b = index.apply(vs("other-vs", "other-ns"));
        assert_eq!(
            b,
            keys(&["b"]),
            "a name.namespace reference crosses namespaces"
        );
        // Once a rollout stops naming it, the VirtualService no longer marks it.
        index.apply(rollout("a", None));
        assert!(index.apply(vs("shared-vs", "ns")).is_empty());
    }

    #[test]
    fn an_unreadable_rollout_is_kept_as_an_error_until_it_is_fixed() {
        let mut index = Index::default();
        let key = ObjectKey::new("ns", "bad");
        let meta: ObjectMeta =
            serde_json::from_value(json!({"name": "bad", "namespace": "ns"})).unwrap_or_default();
        index.apply(Object::Invalid {
            kind: Kind::Rollout,
            metadata: Box::new(meta),
            error: "invalid type: string \"three\", expected i32".into(),
        });
        assert!(matches!(index.build(&key), Some(Built::Invalid { .. })));
        assert_eq!(index.malformed().len(), 1);
        assert_eq!(
            index.unseen(Kind::Rollout, Some("ns"), &HashSet::new()),
            vec![key.clone()]
        );
        index.apply(rollout("bad", None));
        assert!(matches!(index.build(&key), Some(Built::Info { .. })));
        assert!(index.malformed().is_empty());
        index.delete(Kind::Rollout, &key);
        assert_eq!(index.build(&key), None);
    }

    #[test]
    fn events_are_kept_per_rollout_and_bounded() {
        let mut index = Index::default();
        index.apply(rollout("a", None));
        for i in 0..(EVENTS_PER_ROLLOUT + 5) {
            let affected = index.apply(Object::Event(typed(json!({
                "metadata": {"name": format!("e{i:03}"), "namespace": "ns"},
                "involvedObject": {"kind": "Rollout", "name": "a", "namespace": "ns"},
                "reason": format!("R{i}"),
                "lastTimestamp": format!("2024-01-01T00:{:02}:00Z", i),
            }))));
            assert_eq!(affected, keys(&["a"]));
        }
        assert_eq!(
            index.unseen(Kind::Event, None, &HashSet::new()).len(),
            EVENTS_PER_ROLLOUT
        );
        let Some(Built::Info { events, .. }) = index.build(&ObjectKey::new("ns", "a")) else {
            panic!("a is built");
        };
        assert_eq!(events.len(), EVENTS_SHOWN);
        assert_eq!(events[0].reason, format!("R{}", EVENTS_PER_ROLLOUT + 4));
    }
}
