//! The overview's `since` token: the change a page was rendered at, so its
//! stream sends only cards changed after it (at 5000 rollouts that is
//! megabytes per page). A token from another replica or an earlier process
//! names nothing here, and the stream then sends everything.

/// `?since=`: the change the page was rendered at; cards unchanged since
/// then are not sent again (at 5000 rollouts that is megabytes per page).
#[derive(Debug, Default, serde::Deserialize)]
pub struct Since {
    pub since: Option<String>,
}

/// This process, as far as change numbers go: a page rendered by another
/// replica, or before a restart, numbers its changes differently.
fn epoch() -> u128 {
    static EPOCH: std::sync::OnceLock<u128> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    })
}

/// The `since` a page rendered at change `seq` passes to its stream.
pub fn since_token(seq: u64) -> String {
    format!("{}.{seq}", epoch())
}

/// The change a `since` token names, if this process issued it.
pub fn since_seq(token: &str) -> Option<u64> {
    let (e, seq) = token.split_once('.')?;
    (e.parse::<u128>().ok()? == epoch()).then(|| seq.parse().ok())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_its_change_in_this_process_only() {
        assert_eq!(since_seq(&since_token(42)), Some(42));
        assert_eq!(since_seq(&since_token(0)), Some(0));
        // Another process (or replica) numbered its changes from another epoch.
        assert_eq!(since_seq("1.42"), None);
        assert_eq!(since_seq(&format!("{}.x", epoch())), None);
        assert_eq!(since_seq("garbage"), None);
        assert_eq!(since_seq(""), None);
    }
}
