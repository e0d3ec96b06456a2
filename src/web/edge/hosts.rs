//! Which `Host` names this dashboard answers to. A page on another site
//! can point its own name at 127.0.0.1 (DNS rebinding) and so reach a
//! dashboard on a laptop as "same origin"; the name it sends is still its
//! own, so answering only to our names closes that door.

use std::net::{IpAddr, SocketAddr};

/// The names served: loopback names always (nobody can rebind those). On a
/// loopback listen nothing else, but `--public-url`'s host and any
/// `--allowed-host`. Elsewhere every name, as a proxy may rewrite Host to
/// whatever its upstream is called; `--allowed-host` narrows that to the
/// names given, `--public-url`'s host and IP literals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedHosts {
    names: Vec<String>,
    /// Any IP literal (a browser that sends one connected to that address).
    ip_literals: bool,
    /// No list: every name.
    any: bool,
}

impl AllowedHosts {
    /// Every name: for routers served without a listen of their own.
    pub fn any() -> AllowedHosts {
        AllowedHosts {
            names: Vec::new(),
            ip_literals: true,
            any: true,
        }
    }

    pub fn for_listen(
        listen: SocketAddr,
        public_url: Option<&str>,
        allowed: &[String],
    ) -> AllowedHosts {
        let mut names: Vec<String> = allowed.iter().filter_map(|h| normal(h)).collect();
        if let Some(host) = public_url.and_then(host_of_url) {
            names.push(host);
        }
        let loopback = listen.ip().is_loopback();
        AllowedHosts {
            any: !loopback && allowed.is_empty(),
            ip_literals: !loopback,
            names,
        }
    }

    /// Whether a request naming `host` (the `Host` header, with or without
    /// a port) is served. A request without one is not from a browser.
    pub fn allows(&self, host: Option<&str>) -> bool {
        if self.any {
            return true;
        }
        let Some(host) = host else {
            return true;
        };
        let Some(name) = normal(host) else {
            return false;
        };
        if name == "localhost" {
            return true;
        }
        if let Some(ip) = ip_of(&name) {
            return ip.is_loopback() || self.ip_literals;
        }
        self.names.contains(&name)
    }

    /// The names, for the start banner and refusals.
    pub fn describe(&self) -> String {
        if self.any {
            return "any".to_string();
        }
        let mut all = vec!["localhost".to_string(), "127.0.0.1".into(), "[::1]".into()];
        all.extend(self.names.iter().cloned());
        if self.ip_literals {
            all.push("any IP address".into());
        }
        all.join(", ")
    }
}

/// A `Host` value's name, lower-cased, without its port or a final dot;
/// `None` when it is not a host name or address at all.
fn normal(host: &str) -> Option<String> {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(all_digits)) {
            return None;
        }
        format!("[{inside}]")
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if all_digits(port) => name.to_string(),
            Some(_) => return None,
            None => host.to_string(),
        }
    };
    let name = name.strip_suffix('.').unwrap_or(&name).to_ascii_lowercase();
    let fine = !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'[' | b']' | b':')
        });
    fine.then_some(name)
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn ip_of(name: &str) -> Option<IpAddr> {
    let bare = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    bare.parse().ok()
}

/// The host of an `http(s)://host[:port]/…` URL.
fn host_of_url(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    normal(authority)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(listen: &str) -> SocketAddr {
        listen.parse().unwrap()
    }

    #[test]
    fn a_loopback_dashboard_answers_to_loopback_names_only() {
        let h = AllowedHosts::for_listen(at("127.0.0.1:3100"), None, &[]);
        for ok in [
            "localhost:3100",
            "127.0.0.1:3100",
            "[::1]:3100",
            "LOCALHOST",
            "127.0.0.2:9",
            "localhost.:3100",
        ] {
            assert!(h.allows(Some(ok)), "{ok}");
        }
        for rebound in [
            "attacker.example:3100",
            "attacker.example",
            "10.0.0.5:3100",
            "localhost.attacker.example",
            "localhost:3100@evil",
            "[::1]x",
            "",
        ] {
            assert!(!h.allows(Some(rebound)), "{rebound}");
        }
        assert!(h.allows(None), "no Host: not a browser");
    }

    #[test]
    fn elsewhere_the_public_url_and_the_allowed_names() {
        let h = AllowedHosts::for_listen(
            at("0.0.0.0:3100"),
            Some("https://rollouts.example.com/base"),
            &["dash.internal".into()],
        );
        for ok in [
            "rollouts.example.com",
            "Rollouts.Example.com:443",
            "dash.internal:3100",
            "localhost:8080",
            "10.1.2.3:3100",
        ] {
            assert!(h.allows(Some(ok)), "{ok}");
        }
        assert!(!h.allows(Some("attacker.example")));
        let open = AllowedHosts::for_listen(at("0.0.0.0:3100"), None, &[]);
        assert!(open.allows(Some("anything.example")), "no list: as before");
        let proxied = AllowedHosts::for_listen(
            at("0.0.0.0:3100"),
            Some("https://rollouts.example.com"),
            &[],
        );
        assert!(
            proxied.allows(Some("rollouts-dashboard.tools.svc:3100")),
            "a proxy may rewrite Host to its upstream's name"
        );
        let loopback_public = AllowedHosts::for_listen(
            at("127.0.0.1:3100"),
            Some("https://rollouts.example.com"),
            &[],
        );
        assert!(loopback_public.allows(Some("rollouts.example.com")));
        assert!(!loopback_public.allows(Some("attacker.example")));
        let named_loopback =
            AllowedHosts::for_listen(at("127.0.0.1:3100"), None, &["tunnel.example".into()]);
        assert!(named_loopback.allows(Some("tunnel.example:9000")));
        assert!(
            !named_loopback.allows(Some("192.168.1.9:3100")),
            "no IP literal on loopback"
        );
    }
}
