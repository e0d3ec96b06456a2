//! Argo CD's cluster Secrets mounted as files instead of listed: each
//! subfolder of a folder is one Secret as a Secret volume lays it out (a
//! file per key: `name`, `server`, `config`), read as the listed Secrets
//! are (`argocd::cluster_of_secret`). No right to read Secrets through the
//! API is needed. The folder is read again every few seconds: the kubelet
//! writes a changed Secret (a rotated token) into its volume; a Secret
//! added or removed changes the pod's volumes, so the pod restarts anyway.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::argocd::cluster_of_secret;
use super::argocd_source::{ArgoClusters, LIST_EVERY, mark_failing, publish};

/// The keys of a cluster Secret Argo CD reads.
const KEYS: [&str; 3] = ["name", "server", "config"];
/// A key's file is small; a larger one is not a cluster Secret's.
const MAX_FILE: u64 = 1024 * 1024;

/// Starts reading `dir` every few seconds; the receiver has the latest
/// set (empty until the first read).
pub fn follow(dir: PathBuf, shutdown: CancellationToken) -> watch::Receiver<Arc<ArgoClusters>> {
    let (tx, rx) = watch::channel(Arc::new(ArgoClusters::default()));
    tokio::spawn(async move {
        let mut seen: Option<Vec<(String, String)>> = None;
        loop {
            let read = {
                let dir = dir.clone();
                tokio::task::spawn_blocking(move || read_dir(&dir)).await
            };
            match read {
                Ok(Ok(secrets)) => {
                    let versions = secrets
                        .iter()
                        .map(|(name, s)| (name.clone(), version(s)))
                        .collect();
                    publish(&tx, &mut seen, versions, || clusters_of(&secrets));
                }
                Ok(Err(why)) => mark_failing(&tx, why),
                Err(e) => tracing::warn!(error = %e, "reading Argo CD's mounted cluster Secrets"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(LIST_EVERY) => {}
            }
        }
    });
    rx
}

/// Each subfolder of `dir` as a Secret object (`data` base64, as the API
/// gives it), by folder name. The kubelet's own entries (`..data`, its
/// dated folders) and other dot files are not Secrets.
fn read_dir(dir: &Path) -> Result<Vec<(String, Value)>, String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read the folder {}: {e}", dir.display()))?;
    let mut secrets = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !entry.path().is_dir() {
            continue;
        }
        let mut data = serde_json::Map::new();
        for key in KEYS {
            if let Some(text) = read_small(&entry.path().join(key)) {
                let b64 = base64::engine::general_purpose::STANDARD.encode(text);
                data.insert(key.to_string(), json!(b64));
            }
        }
        let secret = json!({
            "metadata": {"namespace": dir.display().to_string(), "name": name},
            "data": data,
        });
        secrets.push((name, secret));
    }
    secrets.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(secrets)
}

fn read_small(path: &Path) -> Option<Vec<u8>> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_FILE {
        return None;
    }
    std::fs::read(path).ok()
}

/// What a Secret's files hold, as a version: changed content is another
/// cluster to make.
fn version(secret: &Value) -> String {
    secret["data"].to_string()
}

fn clusters_of(secrets: &[(String, Value)]) -> ArgoClusters {
    let mut set = ArgoClusters::default();
    for (_, secret) in secrets {
        match cluster_of_secret(secret) {
            Ok(Some(mut c)) => {
                c.version = digest(&version(secret));
                set.clusters.push(c);
            }
            Ok(None) => {}
            Err(e) => set.errors.push(e),
        }
    }
    set
}

/// A short digest of `text` (what is shown in logs stays free of tokens).
fn digest(text: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    d.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, secret: &str, files: &[(&str, &str)]) {
        let folder = dir.join(secret);
        std::fs::create_dir_all(&folder).expect("a folder");
        for (key, text) in files {
            std::fs::write(folder.join(key), text).expect("a file");
        }
    }

    #[test]
    fn each_mounted_secret_is_a_cluster_and_a_changed_one_another_version() {
        let dir = std::env::temp_dir().join(format!("rd-argocd-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        write(
            &dir,
            "cluster-prod-eu",
            &[
                ("name", "prod-eu"),
                ("server", "https://eu.example:6443"),
                (
                    "config",
                    r#"{"bearerToken":"t1","tlsClientConfig":{"insecure":true}}"#,
                ),
            ],
        );
        // Argo CD's entry for the cluster it runs in, a broken one, the
        // kubelet's own folder.
        write(
            &dir,
            "in-cluster",
            &[("server", "https://kubernetes.default.svc")],
        );
        write(&dir, "broken", &[("name", "x"), ("config", "{}")]);
        write(&dir, "..data", &[("server", "https://hidden.example")]);
        let secrets = read_dir(&dir).expect("read");
        let set = clusters_of(&secrets);
        assert_eq!(set.clusters.len(), 1, "{set:?}");
        let c = &set.clusters[0];
        assert_eq!(c.name, "prod-eu");
        assert_eq!(c.server, "https://eu.example:6443");
        assert!(c.config.accept_invalid_certs);
        assert!(c.secret.ends_with("/cluster-prod-eu"), "{}", c.secret);
        assert!(!c.version.contains("t1"), "no token in what is logged");
        assert_eq!(set.errors.len(), 1, "the broken one says why: {set:?}");
        assert!(set.errors[0].contains("no server"), "{:?}", set.errors);
        // A rotated token: the same cluster, another version.
        write(
            &dir,
            "cluster-prod-eu",
            &[(
                "config",
                r#"{"bearerToken":"t2","tlsClientConfig":{"insecure":true}}"#,
            )],
        );
        let again = clusters_of(&read_dir(&dir).expect("read"));
        assert_ne!(again.clusters[0].version, c.version);
        let _ = std::fs::remove_dir_all(&dir);
        assert!(read_dir(&dir).is_err_and(|e| e.contains("cannot read the folder")));
    }
}
