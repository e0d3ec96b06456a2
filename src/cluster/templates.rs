//! A revision's pod template, read from its ReplicaSet through the API
//! server as the person (their client, so `get replicasets` is theirs to
//! have): the index keeps only what the pages show (names, images), and a
//! whole template is kilobytes a ReplicaSet. Read when a diff is asked;
//! kept a few minutes per person (a ReplicaSet's template never changes);
//! one read at a time per person and ReplicaSet however many ask; at most
//! `READS` at once in all.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::api::Api;
use kube::{Client, Error as KubeError};
use serde_json::Value;
use tokio::sync::Semaphore;

/// Reads of the API server at once, for everyone.
const READS: usize = 4;
/// A read gives up after this long (waiting for its turn included).
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Templates kept, and for how long.
const KEPT: u64 = 1_000;
const KEPT_FOR: Duration = Duration::from_secs(300);

#[derive(Clone, Debug, thiserror::Error)]
pub enum TemplateError {
    /// The API server refused (403, 404): its words, and its code.
    #[error("{message}")]
    Refused { code: u16, message: String },
    #[error("the Kubernetes API did not answer within {} s", READ_TIMEOUT.as_secs())]
    Timeout,
    #[error("the Kubernetes API failed: {0}")]
    Failed(String),
}

/// Who asked, and which ReplicaSet.
type Key = (String, String, String);

pub struct TemplateCache {
    kept: moka::future::Cache<Key, Arc<Value>>,
    reads: Semaphore,
}

impl Default for TemplateCache {
    fn default() -> Self {
        TemplateCache {
            kept: moka::future::Cache::builder()
                .max_capacity(KEPT)
                .time_to_live(KEPT_FOR)
                .build(),
            reads: Semaphore::new(READS),
        }
    }
}

impl std::fmt::Debug for TemplateCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemplateCache")
            .field("kept", &self.kept.entry_count())
            .finish()
    }
}

impl TemplateCache {
    /// ReplicaSet `name`'s pod template (`{metadata, spec}`) in
    /// `namespace`, as `who` (reading with `client`) may read it.
    pub async fn get(
        &self,
        who: &str,
        client: Client,
        namespace: &str,
        name: &str,
    ) -> Result<Arc<Value>, TemplateError> {
        let key = (who.to_string(), namespace.to_string(), name.to_string());
        self.kept
            .try_get_with(key, self.read(client, namespace, name))
            .await
            .map_err(|e| (*e).clone())
    }

    async fn read(
        &self,
        client: Client,
        namespace: &str,
        name: &str,
    ) -> Result<Arc<Value>, TemplateError> {
        let work = async {
            let _turn = self
                .reads
                .acquire()
                .await
                .map_err(|e| TemplateError::Failed(e.to_string()))?;
            let api: Api<ReplicaSet> = Api::namespaced(client, namespace);
            match api.get(name).await {
                Ok(rs) => {
                    let template = rs.spec.and_then(|s| s.template);
                    serde_json::to_value(template)
                        .map(Arc::new)
                        .map_err(|e| TemplateError::Failed(e.to_string()))
                }
                Err(KubeError::Api(s)) => Err(TemplateError::Refused {
                    code: s.code,
                    message: s.message.clone(),
                }),
                Err(e) => Err(TemplateError::Failed(e.to_string())),
            }
        };
        tokio::time::timeout(READ_TIMEOUT, work)
            .await
            .unwrap_or(Err(TemplateError::Timeout))
    }
}
