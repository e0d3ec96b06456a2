//! The dashboard in a real browser (headless Chromium through chromedriver),
//! as a person uses it on the demo cluster: the overview shows the seed's
//! canary at its indefinite pause with an 80/20 bar; search filters the
//! cards and the URL; Promote (click, confirm) turns the bar to 50/50
//! without a reload; the timed pause counts down; a dashboard restart shows
//! "Reconnecting…", then live, current data; Abort through its button.
//! Screenshots of both pages in both themes go to `target/screenshots/`.
//!
//! Signing in: with `--auth token` on a cluster that enforces RBAC, a
//! person is sent to the sign-in page, signs in with their token (the
//! cookie must survive the browser's rules), sees their team's rollouts
//! only, and signs out.
//!
//! With `--auth oidc`, a person signs in through a real OpenID provider's
//! own pages (oidc-provider-mock over HTTPS), sees their team, and signs
//! out through the provider's end-session page.
//!
//! The demo's failing canary, once aborted, leaves its pod's last lines on
//! its History entry and the revision's own page.
//!
//! The seed's canary page says what revision 2 changed, and a rollback's
//! confirmation what going back would change.
//!
//! With a real Prometheus scraping the simulated mesh, the rollout page's
//! "Observed traffic" panel and the bars' observed marks read well in both
//! themes and both widths.
//!
//! At scale (`sim --scale 5000`): the overview opens with what needs a
//! person and a summary per namespace before the first page of cards; a
//! search finds a rollout far from the first page; a change to a card on
//! screen appears live; and with JavaScript off, the search, the filters
//! and the pages work as plain links and forms.
//!
//! Two clusters: one overview leads with what needs a person in both, the
//! cluster filter opens one cluster's overview, and a rollout of the
//! second cluster has its page, live; axe-clean.
//!
//! Acting on several: a filter, "tick all", Promote, the preview, then
//! each rollout's answer live on the same page; and without JavaScript,
//! every rollout the filter keeps by form posts to a results page.
//!
//! Needs `chromium` and `chromium-driver` (Debian); `.ci/run` installs them.

// The integration tests' helpers (tests/it/), of which the browser
// suite uses a part.
#[allow(dead_code)]
#[path = "../it/common.rs"]
mod common;
#[allow(dead_code)]
#[path = "../it/harness/mod.rs"]
mod harness;
#[allow(dead_code)]
#[path = "../it/http.rs"]
mod http;
#[allow(dead_code)]
#[path = "../it/oidc_provider.rs"]
mod oidc_provider;
#[allow(dead_code)]
#[path = "../it/teams.rs"]
mod teams;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use rollouts_dashboard::cli::{AuthMode, LogFormat, ScenarioArgs, WebArgs};
use rollouts_dashboard::cluster::client::{ConfigSource, Connection, Scope};
use rollouts_dashboard::serve;
use rollouts_dashboard::sim::command::{Running, start};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const PATIENCE: Duration = Duration::from_secs(60);

/// One browser at a time: two Chromiums on two cores slow each other down
/// enough for the seed's 30 s pause to end before the test aborts it.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// chromedriver on a free loopback port, ready to take a session.
fn start_chromedriver() -> (Driver, u16) {
    let port = http::free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run chromedriver ({e}); `bash .ci/run` installs Debian's chromium and chromium-driver")
        });
    let driver = Driver(child);
    let deadline = Instant::now() + PATIENCE;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (driver, port)
}

async fn browser(port: u16) -> Client {
    browser_with(port, true).await
}

/// A browser, with JavaScript on or off (`javascript`).
async fn browser_with(port: u16, javascript: bool) -> Client {
    // One profile per browser: the tests of this file run at once.
    let profile = std::env::temp_dir().join(format!(
        "rd-chromium-{}-{port}-{javascript}",
        std::process::id()
    ));
    let mut caps = serde_json::Map::new();
    // The test OpenID provider's certificate is from a CA made for the run.
    caps.insert("acceptInsecureCerts".into(), json!(true));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                     "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync",
                     "--window-size=1280,1000", format!("--user-data-dir={}", profile.display())],
            // Content setting 2 blocks the pages' scripts (WebDriver's own
            // commands still run).
            "prefs": {"profile.managed_default_content_settings.javascript": if javascript { 1 } else { 2 }}
        }),
    );
    ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session")
}

/// The demo cluster on loopback until `stop`: the seed scenario with its
/// controller, or `scale` generated rollouts that change only when a test
/// changes them.
async fn simulated(scale: Option<usize>, stop: &CancellationToken) -> Running {
    let scenario = ScenarioArgs {
        scenario: "seed".to_string(),
        manifests: Vec::new(),
        no_controller: scale.is_some(),
    };
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    start(&scenario, scale, None, loopback, stop.clone())
        .await
        .expect("the simulated cluster starts")
}

/// Waits until the seed waits at its indefinite pause, then stops the sim's
/// clock: nothing timed happens unless the test moves it (the 30 s pause
/// after it cannot end while the test looks at it or aborts it).
async fn frozen_at_the_seeds_pause(sim: &Running) {
    let deadline = Instant::now() + PATIENCE;
    while seed_position(sim) != "1/5 steps done" {
        assert!(
            Instant::now() < deadline,
            "the seed never reached its pause: {}",
            seed_state(sim)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sim.server.store.clock.freeze();
}

/// The dashboard, serving the demo cluster on `addr`, until `stop`.
fn start_dashboard(
    sim: SocketAddr,
    listener: tokio::net::TcpListener,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    start_dashboard_with(sim, listener, stop, |_| {})
}

/// The dashboard on `sim`, on a free loopback port, until `stop`: its
/// address and its task.
async fn dashboard_on_loopback(
    sim: SocketAddr,
    stop: &CancellationToken,
) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("a port");
    let addr = listener.local_addr().expect("bound");
    (addr, start_dashboard(sim, listener, stop.clone()))
}

/// As `start_dashboard`, with some flags set by `flags`.
fn start_dashboard_with(
    sim: SocketAddr,
    listener: tokio::net::TcpListener,
    stop: CancellationToken,
    flags: impl FnOnce(&mut WebArgs),
) -> tokio::task::JoinHandle<()> {
    let mut config = kube::Config::new(format!("http://{sim}").parse().expect("a URL"));
    config.default_namespace = "manifest-gen".to_string();
    let conn = Connection {
        config,
        source: ConfigSource::Given("simulated cluster".to_string()),
        scope: Scope::AllNamespaces,
    };
    let mut web = WebArgs {
        listen: listener.local_addr().expect("bound"),
        auth: AuthMode::None,
        log_format: LogFormat::Text,
        ..WebArgs::defaults()
    };
    web.history.history_db = Some("sqlite::memory:".to_string());
    flags(&mut web);
    tokio::spawn(async move {
        if let Err(e) = serve::run_on(listener, &conn, &web, stop).await {
            panic!("the dashboard failed: {e}");
        }
    })
}

/// Polls `script` (a JS expression) until it is true.
async fn until(c: &Client, what: &str, script: &str) {
    let deadline = Instant::now() + PATIENCE;
    let mut last = Value::Null;
    while Instant::now() < deadline {
        match c.execute(&format!("return ({script});"), vec![]).await {
            Ok(Value::Bool(true)) => return,
            Ok(v) => last = v,
            Err(e) => last = Value::String(e.to_string()),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("gave up waiting for {what} (last: {last})");
}

async fn js(c: &Client, script: &str) -> Value {
    c.execute(&format!("return ({script});"), vec![])
        .await
        .unwrap_or(Value::Null)
}

async fn screenshot(c: &Client, name: &str, theme: &str) {
    js(
        c,
        &format!("document.documentElement.dataset.theme = '{theme}'"),
    )
    .await;
    // Painted in the new theme: two animation frames after the switch.
    let painted = c
        .execute_async(
            "var done = arguments[arguments.length - 1]; requestAnimationFrame(function () { requestAnimationFrame(function () { done(true); }); });",
            vec![],
        )
        .await;
    assert!(painted.is_ok(), "the page paints: {painted:?}");
    let png = c.screenshot().await.expect("a screenshot");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).expect("the screenshot folder");
    std::fs::write(dir.join(format!("{name}-{theme}.png")), png).expect("the screenshot is saved");
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
}

/// Opens the overview without being signed in: the page says so, and its
/// sign-in link is followed.
async fn follow_sign_in_link(c: &Client, base: &str) {
    c.goto(&format!("{base}/")).await.expect("the page loads");
    until(
        c,
        "the not-signed-in page",
        "document.querySelector('h1')?.textContent === 'Not signed in'",
    )
    .await;
    click(c, "a[href$='sign-in']").await;
}

/// What the sim says the seed's step is, as the page words it.
fn seed_position(sim: &Running) -> String {
    let ro = sim
        .server
        .store
        .get(
            rollouts_dashboard::sim::resources::find("argoproj.io", "v1alpha1", "rollouts")
                .expect("rollouts"),
            "manifest-gen",
            "manifest-gen",
        )
        .expect("the seed");
    let i = ro["status"]["currentStepIndex"].as_i64().unwrap_or(0);
    format!("{}/5 steps done", i.clamp(0, 5))
}

/// The seed rollout's status and its VirtualService route, for failures.
fn seed_state(sim: &Running) -> String {
    let get = |plural: &str, name: &str| {
        let rt = rollouts_dashboard::sim::resources::RESOURCES
            .iter()
            .find(|r| r.plural == plural)
            .expect("served");
        sim.server
            .store
            .get(rt, "manifest-gen", name)
            .map(|o| (*o).clone())
            .unwrap_or(Value::Null)
    };
    let ro = get("rollouts", "manifest-gen");
    let vs = get("virtualservices", "manifest-gen-vs");
    format!(
        "status {} and route {}",
        ro["status"], vs["spec"]["http"][0]["route"]
    )
}

const SEED_CARD: &str = "#r-manifest-gen--manifest-gen";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_watches_and_steers_the_seed_release() {
    let _one = ONE_BROWSER.lock().await;
    let (_driver, driver_port) = start_chromedriver();
    let sim_stop = CancellationToken::new();
    let _sim_guard = sim_stop.clone().drop_guard();
    let sim = simulated(None, &sim_stop).await;
    frozen_at_the_seeds_pause(&sim).await;
    let mut dash_stop = CancellationToken::new();
    let (addr, mut dashboard) = dashboard_on_loopback(sim.addr, &dash_stop).await;
    let c = browser(driver_port).await;
    let base = format!("http://{addr}");

    // The overview: the seed paused at its indefinite pause, 80/20.
    c.goto(&format!("{base}/"))
        .await
        .expect("the overview loads");
    until(
        &c,
        "the seed at 1/5 steps done",
        &format!(
            "document.querySelector('{SEED_CARD} .position')?.textContent === '1/5 steps done'"
        ),
    )
    .await;
    let bar = js(
        &c,
        &format!("document.querySelector('{SEED_CARD} svg.bar').getAttribute('aria-label')"),
    )
    .await;
    assert_eq!(bar, "Traffic: 80% stable, 20% canary");
    until(
        &c,
        "the stream live",
        "document.getElementById('live').textContent === 'Live'",
    )
    .await;
    screenshot(&c, "overview", "light").await;
    screenshot(&c, "overview", "dark").await;
    js(&c, "document.documentElement.dataset.theme = 'system'").await;

    // Search runs on the server and swaps the cards in, without a reload;
    // the URL follows.
    js(&c, "window.__sameDocument = true").await;
    c.find(Locator::Css("#search"))
        .await
        .expect("the search box")
        .send_keys("check")
        .await
        .expect("typing");
    until(&c, "only checkout shown", &format!(
        "!document.querySelector('{SEED_CARD}') && !!document.querySelector('#r-shop--checkout')"
    ))
    .await;
    let url = c.current_url().await.expect("a URL");
    assert_eq!(url.query(), Some("q=check"));
    assert_eq!(js(&c, "window.__sameDocument === true").await, json!(true));

    // The rollout page: Promote, confirm, 50/50 without a reload.
    c.goto(&format!("{base}/rollouts/manifest-gen/manifest-gen"))
        .await
        .expect("the rollout page loads");
    until(
        &c,
        "the stream live",
        "document.getElementById('live').textContent === 'Live'",
    )
    .await;
    screenshot(&c, "rollout", "light").await;
    screenshot(&c, "rollout", "dark").await;
    js(&c, "document.documentElement.dataset.theme = 'system'").await;
    js(&c, "window.__sameDocument = true").await;
    click(&c, "button[data-action=promote]").await;
    until(
        &c,
        "the confirmation",
        "document.getElementById('confirm').open",
    )
    .await;
    let confirm = js(&c, "document.getElementById('confirm-text').textContent").await;
    assert!(
        confirm
            .as_str()
            .unwrap_or_default()
            .contains("Leaves step 2 of 5; next: set weight 50%"),
        "{confirm}"
    );
    click(&c, "#confirm-yes").await;
    // The page says what became of the action (a toast), then shows it.
    until(
        &c,
        "the action's toast",
        "document.getElementById('toasts').innerText.length > 0",
    )
    .await;
    let toast = js(&c, "document.getElementById('toasts').innerText").await;
    assert!(
        toast
            .as_str()
            .unwrap_or_default()
            .starts_with("Promote: sent"),
        "the promote was not sent: {toast}; the cluster has {}",
        seed_state(&sim)
    );
    // The canary's new pods become ready after 2 s of the sim's time.
    sim.server
        .store
        .clock
        .advance(jiff::SignedDuration::from_secs(3));
    let deadline = Instant::now() + PATIENCE;
    while js(
        &c,
        "document.querySelector('#traffic svg.bar')?.getAttribute('aria-label')",
    )
    .await
        != json!("Traffic: 50% stable, 50% canary")
    {
        if Instant::now() > deadline {
            let shown = js(&c, "document.querySelector('#traffic svg.bar')?.getAttribute('aria-label') + ' | ' + document.getElementById('live').textContent").await;
            panic!(
                "the bar never reached 50/50: the page shows {shown}; the cluster has {}",
                seed_state(&sim)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        js(&c, "window.__sameDocument === true").await,
        json!(true),
        "no reload"
    );

    // The timed pause (30 s) counts down.
    until(
        &c,
        "a countdown",
        "/^\\d+ s left$/.test(document.querySelector('#steps time.countdown')?.textContent || '')",
    )
    .await;
    let first = js(
        &c,
        "parseInt(document.querySelector('#steps time.countdown').textContent)",
    )
    .await;
    let first = first.as_i64().unwrap_or(0);
    // The sim's clock is up to the 3 s this test advanced it ahead of the
    // browser's, so the browser counts down from at most 33.
    assert!((1..=33).contains(&first), "{first} s left of a 30 s pause");
    until(
        &c,
        "the countdown going down",
        &format!(
            "parseInt(document.querySelector('#steps time.countdown')?.textContent || '99') < {first}"
        ),
    )
    .await;

    // The dashboard restarts: the page says so, then is live and current.
    dash_stop.cancel();
    let _ = dashboard.await;
    until(
        &c,
        "'Reconnecting…'",
        "document.getElementById('live').textContent === 'Reconnecting…'",
    )
    .await;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .expect("the same port again");
    dash_stop = CancellationToken::new();
    dashboard = start_dashboard(sim.addr, listener, dash_stop.clone());
    until(
        &c,
        "live again",
        "document.getElementById('live').textContent === 'Live'",
    )
    .await;
    let deadline = Instant::now() + PATIENCE;
    loop {
        let want = seed_position(&sim);
        let shown = js(
            &c,
            "document.querySelector('#rollout-header .position')?.textContent",
        )
        .await;
        if shown == json!(want) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the page shows {shown}, the cluster is at {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        js(&c, "window.__sameDocument === true").await,
        json!(true),
        "no reload"
    );

    // Abort through its button (every fetch the page makes is noted, for
    // the failure message).
    js(
        &c,
        "(function () { window.__fetches = []; var f = window.fetch; window.fetch = function (u, o) { window.__fetches.push('sent ' + u); return f(u, o).then(function (r) { window.__fetches.push(r.status + ' ' + u); return r; }, function (e) { window.__fetches.push('failed ' + u + ': ' + e); throw e; }); }; return true; })()",
    )
    .await;
    let requests_before = sim.server.requests().len();
    click(&c, "button[data-action=abort]").await;
    until(
        &c,
        "the confirmation",
        "document.getElementById('confirm').open",
    )
    .await;
    click(&c, "#confirm-yes").await;
    let abort_state = seed_state(&sim);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let degraded = js(
            &c,
            "document.querySelector('#rollout-header .status')?.textContent.includes('Degraded')",
        )
        .await;
        if degraded == json!(true) {
            break;
        }
        let refused = js(
            &c,
            "document.querySelector('#toasts .toast.bad')?.textContent",
        )
        .await;
        assert!(
            refused.is_null(),
            "the abort was refused: {refused}; the cluster was at {abort_state} when it was confirmed and is at {} now",
            seed_state(&sim)
        );
        if Instant::now() > deadline {
            let page = js(
                &c,
                "[document.getElementById('live')?.textContent, document.querySelector('#rollout-header')?.innerText, document.querySelector('.flash, .toast, [role=alert]')?.textContent].join(' | ')",
            )
            .await;
            let fetches = js(&c, "(window.__fetches || []).join(', ')").await;
            let sent: Vec<String> = sim.server.requests()[requests_before..]
                .iter()
                .map(|r| format!("{} {} {}", r.method, r.path, r.body))
                .collect();
            panic!(
                "not Degraded: the page shows {page}; its fetches: {fetches}; the cluster received {sent:?}; it was at {abort_state} when abort was confirmed and is at {} now",
                seed_state(&sim)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    until(&c, "all traffic on stable", "document.querySelector('#traffic svg.bar')?.getAttribute('aria-label') === 'Traffic: 100% stable, 0% canary'").await;

    let _ = c.close().await;
    dash_stop.cancel();
    let _ = dashboard.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_with_their_token_and_sees_their_team() {
    let _one = ONE_BROWSER.lock().await;
    let (_driver, driver_port) = start_chromedriver();
    let rbac = teams::documents(&teams::fixtures().join("dashboard-rbac.yaml"));
    let cluster = teams::cluster(
        "system:serviceaccount:rollouts-dashboard:rollouts-dashboard",
        rbac,
        Vec::new(),
    )
    .await;
    let addr = teams::dashboard(&cluster, AuthMode::Token, &[], Scope::AllNamespaces).await;
    let c = browser(driver_port).await;
    let base = format!("http://{addr}");

    // Not signed in: the page says so and offers the sign-in page.
    follow_sign_in_link(&c, &base).await;
    until(
        &c,
        "the sign-in form",
        "!!document.querySelector('form.sign-in textarea')",
    )
    .await;

    // A wrong token is refused and not kept.
    c.find(Locator::Css("#token"))
        .await
        .expect("the token field")
        .send_keys("not-a-token")
        .await
        .expect("typed");
    click(&c, "form.sign-in button").await;
    until(
        &c,
        "the refusal",
        "document.querySelector('.flash.bad')?.textContent.includes('does not accept')",
    )
    .await;

    // alice's token: the overview with team-a's rollout only, her name, and
    // the buttons she may use.
    c.find(Locator::Css("#token"))
        .await
        .expect("the token field")
        .send_keys("alice-token")
        .await
        .expect("typed");
    click(&c, "form.sign-in button").await;
    until(
        &c,
        "alice's overview",
        "document.querySelector('#who')?.textContent === 'Signed in as alice (team-a)'",
    )
    .await;
    until(
        &c,
        "team-a's card",
        "!!document.querySelector('#r-team-a--web')",
    )
    .await;
    assert_eq!(
        js(&c, "!!document.querySelector('#r-team-b--api')").await,
        json!(false),
        "team-b is not hers to see"
    );
    assert_eq!(
        js(
            &c,
            "!!document.querySelector('#r-team-a--web form[action$=\"actions/promote\"]')"
        )
        .await,
        json!(true),
        "she may promote in team-a"
    );
    until(
        &c,
        "the live stream",
        "document.querySelector('#live')?.textContent === 'Live'",
    )
    .await;
    screenshot(&c, "signed-in-overview", "light").await;

    // Signing out forgets the token.
    click(&c, "form.sign-out button").await;
    until(
        &c,
        "the signed-out page",
        "document.querySelector('h1')?.textContent === 'Signed out'",
    )
    .await;
    c.goto(&format!("{base}/")).await.expect("the page loads");
    until(
        &c,
        "not signed in again",
        "document.querySelector('h1')?.textContent === 'Not signed in'",
    )
    .await;
    let _ = c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_through_the_openid_provider_and_out_again() {
    let _one = ONE_BROWSER.lock().await;
    let provider = oidc_provider::start(
        "browser",
        &[json!({"sub": "alice", "email": "alice@example.com", "groups": ["team-a"]})],
    );
    let (_driver, driver_port) = start_chromedriver();
    let rbac = teams::documents(&teams::fixtures().join("dashboard-rbac.yaml"));
    let cluster = teams::cluster(
        "system:serviceaccount:rollouts-dashboard:rollouts-dashboard",
        rbac,
        Vec::new(),
    )
    .await;
    let port = http::free_port();
    let key = std::env::temp_dir().join(format!("rd-browser-key-{}", std::process::id()));
    std::fs::write(&key, [9u8; 48]).expect("a session key");
    let web = WebArgs {
        auth: AuthMode::Oidc,
        oidc_issuer_url: Some(provider.issuer.clone()),
        oidc_client_id: Some("rollouts-dashboard".to_string()),
        oidc_client_secret: Some("s3cret".to_string()),
        oidc_ca_file: Some(provider.ca_file.clone()),
        oidc_username_claim: "email".to_string(),
        oidc_groups_claim: Some("groups".to_string()),
        public_url: Some(format!("http://127.0.0.1:{port}")),
        session_key_file: Some(key.clone()),
        ..WebArgs::defaults()
    };
    let addr = teams::dashboard_with(
        &cluster,
        Scope::AllNamespaces,
        SocketAddr::from(([127, 0, 0, 1], port)),
        web,
    )
    .await;
    let c = browser(driver_port).await;
    let base = format!("http://{addr}");

    // Not signed in: the page offers the sign-in, which is the provider's.
    follow_sign_in_link(&c, &base).await;
    until(
        &c,
        "the provider's authorization form",
        &format!(
            "location.href.startsWith('{}/oauth2/authorize') && !!document.querySelector('input[name=sub]')",
            provider.issuer
        ),
    )
    .await;
    c.find(Locator::Css("input[name=sub]"))
        .await
        .expect("the sub field")
        .send_keys("alice")
        .await
        .expect("typed");
    c.find(Locator::XPath("//button[normalize-space()='Authorize']"))
        .await
        .expect("the Authorize button")
        .click()
        .await
        .expect("clicked");

    // Back on the dashboard, as her, with her team only, live.
    until(
        &c,
        "signed in as alice",
        "document.querySelector('#who')?.textContent === 'Signed in as alice@example.com (team-a)'",
    )
    .await;
    assert_eq!(
        js(&c, "!!document.querySelector('#r-team-a--web')").await,
        json!(true),
        "team-a's rollout"
    );
    assert_eq!(
        js(&c, "!!document.querySelector('#r-team-b--api')").await,
        json!(false),
        "team-b is not hers to see"
    );
    until(
        &c,
        "the live stream",
        "document.querySelector('#live')?.textContent === 'Live'",
    )
    .await;
    screenshot(&c, "oidc-signed-in-overview", "light").await;

    // Sign out: the provider ends its session too, then back here.
    click(&c, "form.sign-out button").await;
    until(
        &c,
        "the provider's end-session page",
        &format!(
            "location.href.startsWith('{}/oauth2/end_session')",
            provider.issuer
        ),
    )
    .await;
    c.find(Locator::XPath("//button[normalize-space()='End session']"))
        .await
        .expect("the End session button")
        .click()
        .await
        .expect("clicked");
    until(
        &c,
        "the signed-out page",
        "document.querySelector('h1')?.textContent === 'Signed out'",
    )
    .await;
    c.goto(&format!("{base}/")).await.expect("the page loads");
    until(
        &c,
        "not signed in again",
        "document.querySelector('h1')?.textContent === 'Not signed in'",
    )
    .await;
    let _ = c.close().await;
    let _ = std::fs::remove_file(key);
}

/// axe-core (npm, pinned in `.ci/run`, which installs it into
/// target/tools-npm; `ROLLOUTS_DASHBOARD_TEST_AXE` names another copy).
fn axe_source() -> String {
    let path = std::env::var("ROLLOUTS_DASHBOARD_TEST_AXE").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/target/tools-npm/node_modules/axe-core/axe.min.js"
        )
        .to_string()
    });
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("cannot read axe-core at {path} ({e}); `bash .ci/run` installs it")
    })
}

/// What axe-core finds with every rule it runs by default (WCAG 2 A and
/// AA, and its best practices) on the page as shown now.
async fn accessibility_violations(c: &Client, axe: &str) -> Vec<String> {
    // WebDriver's scripts are not the page's: the Content-Security-Policy
    // does not stop them.
    let _ = c.execute(&format!("{axe}\nreturn true;"), vec![]).await;
    let found = c
        .execute_async(
            "var done = arguments[arguments.length - 1];
             axe.run(document)
               .then(function (r) { done(r.violations.map(function (v) {
                 return v.id + ' (' + v.nodes.length + '): ' + v.nodes.slice(0, 3).map(function (n) { return n.target.join(' '); }).join(' | ');
               })); }, function (e) { done(['axe failed: ' + e]); });",
            vec![],
        )
        .await;
    match found {
        Ok(Value::Array(v)) => v
            .iter()
            .map(|x| x.as_str().unwrap_or_default().to_string())
            .collect(),
        other => vec![format!("axe did not run: {other:?}")],
    }
}

/// The page passes axe in light and dark, at 1280 and at 390 px wide.
async fn assert_accessible(c: &Client, what: &str) {
    let axe = axe_source();
    for (width, height) in [(1280, 1000), (390, 844)] {
        c.set_window_size(width, height)
            .await
            .expect("the window resizes");
        for theme in ["light", "dark"] {
            js(
                c,
                &format!("document.documentElement.dataset.theme = '{theme}'"),
            )
            .await;
            // Cards ease into the new theme's colours (and width): axe must
            // judge the colours they end at, not a frame on the way.
            until(
                c,
                "the theme's transitions to end",
                "document.getAnimations().every(function (a) { return a.playState !== 'running'; })",
            )
            .await;
            let found = accessibility_violations(c, &axe).await;
            assert!(
                found.is_empty(),
                "{what} at {width} px in {theme}: {found:#?}"
            );
        }
    }
    c.set_window_size(1280, 1000)
        .await
        .expect("the window resizes");
    js(c, "document.documentElement.dataset.theme = 'system'").await;
}

/// At a phone's width (390 px) nothing scrolls sideways; back to 1280.
async fn assert_nothing_scrolls_sideways_at_390(c: &Client) {
    c.set_window_size(390, 844)
        .await
        .expect("the window resizes");
    assert_eq!(
        js(
            c,
            "document.documentElement.scrollWidth <= window.innerWidth"
        )
        .await,
        json!(true),
        "nothing scrolls sideways at 390 px"
    );
    c.set_window_size(1280, 1000)
        .await
        .expect("the window resizes");
}

/// The text of the element `css` (WebDriver's own reading: works with the
/// page's JavaScript off).
async fn text_of(c: &Client, css: &str) -> String {
    match c.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Waits (bounded) until a navigation a click started has arrived where
/// `arrived` says, by the URL's query; returns that query. WebDriver's
/// click does not always wait for the page it leads to, and a check made
/// meanwhile reads the page being left.
async fn until_query(c: &Client, what: &str, arrived: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let query = c
            .current_url()
            .await
            .ok()
            .and_then(|u| u.query().map(str::to_string))
            .unwrap_or_default();
        let ready = c
            .execute("return document.readyState", vec![])
            .await
            .ok()
            .and_then(|v| v.as_str().map(|s| s == "complete"));
        if arrived(&query) && ready != Some(false) {
            return query;
        }
        assert!(
            Instant::now() < deadline,
            "never arrived at {what}: {query}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether `css` is on the page.
async fn exists(c: &Client, css: &str) -> bool {
    c.find_all(Locator::Css(css))
        .await
        .is_ok_and(|found| !found.is_empty())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_finds_their_way_among_five_thousand_rollouts() {
    let _one = ONE_BROWSER.lock().await;
    let (_driver, driver_port) = start_chromedriver();
    let sim_stop = CancellationToken::new();
    let _sim_guard = sim_stop.clone().drop_guard();
    // Nothing changes unless this test changes it.
    let sim = simulated(Some(5000), &sim_stop).await;
    let dash_stop = CancellationToken::new();
    let (addr, dashboard) = dashboard_on_loopback(sim.addr, &dash_stop).await;
    let base = format!("http://{addr}");
    let c = browser(driver_port).await;

    // Synced (a page opened mid-sync shows what has arrived, and the
    // sections that need more than a page of rollouts come on reload).
    let deadline = Instant::now() + PATIENCE;
    while http::get(&addr.to_string(), "/readyz").map(|(s, _)| s) != Some(200) {
        assert!(Instant::now() < deadline, "the dashboard never synced");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // What needs a person first, then the namespaces, then 100 cards.
    c.goto(&format!("{base}/"))
        .await
        .expect("the overview loads");
    until(
        &c,
        "all 5,000 counted",
        "document.querySelector('.pager')?.textContent.includes('1–100 of 5,000')",
    )
    .await;
    let order = js(
        &c,
        "[document.getElementById('attention'), document.querySelector('.ns-summary'), document.getElementById('groups')].every(function (e, i, all) { return e && (i === 0 || (all[i - 1].compareDocumentPosition(e) & Node.DOCUMENT_POSITION_FOLLOWING)); })",
    )
    .await;
    assert_eq!(
        order,
        json!(true),
        "attention list, then namespaces, then cards"
    );
    // Every fourth rollout of the scale waits at `pause: {}` for a person.
    let attention = text_of(&c, "#h-attention").await;
    assert!(attention.contains("1250"), "{attention}");
    assert!(
        text_of(&c, "#attention li")
            .await
            .contains("Waiting for promotion"),
        "the attention list says why"
    );
    assert_eq!(
        js(&c, "document.querySelectorAll('.ns-row').length").await,
        json!(10)
    );
    assert!(
        text_of(&c, "#nsrow-scale-3 summary")
            .await
            .contains("500 rollouts")
    );
    assert_eq!(
        js(&c, "document.querySelectorAll('.card').length").await,
        json!(100)
    );
    until(
        &c,
        "the stream live",
        "document.getElementById('live').textContent === 'Live'",
    )
    .await;
    screenshot(&c, "overview-5000", "light").await;
    screenshot(&c, "overview-5000", "dark").await;
    js(&c, "document.documentElement.dataset.theme = 'system'").await;
    assert_accessible(&c, "the overview at 5,000").await;
    // At 390 px nothing is wider than the screen.
    c.set_window_size(390, 844)
        .await
        .expect("the window resizes");
    screenshot(&c, "overview-5000-390", "light").await;
    let overflow = js(
        &c,
        "document.documentElement.scrollWidth <= window.innerWidth",
    )
    .await;
    assert_eq!(overflow, json!(true), "no sideways scrolling at 390 px");
    c.set_window_size(1280, 1000)
        .await
        .expect("the window resizes");
    js(&c, "document.documentElement.dataset.theme = 'system'").await;

    // A change to a card on screen appears live.
    let first = js(&c, "document.querySelector('.card').id").await;
    let first = first.as_str().expect("a card id").to_string();
    let (ns, name) = first
        .strip_prefix("r-")
        .and_then(|r| r.split_once("--"))
        .expect("a card id names its rollout");
    let rollouts = rollouts_dashboard::sim::resources::find("argoproj.io", "v1alpha1", "rollouts")
        .expect("rollouts");
    sim.server
        .store
        .patch(
            rollouts,
            ns,
            name,
            rollouts_dashboard::sim::store::Subresource::Status,
            |o| {
                o["status"]["message"] = json!("changed while you looked");
                Ok(())
            },
        )
        .expect("the status patch applies");
    until(
        &c,
        "the change on screen",
        &format!(
            "document.getElementById('{first}')?.textContent.includes('changed while you looked')"
        ),
    )
    .await;

    // Search runs over all 5,000 on the server: one far from page 1.
    c.find(Locator::Css("#search"))
        .await
        .expect("the search box")
        .send_keys("app-04999")
        .await
        .expect("typing");
    until(
        &c,
        "the rollout found",
        "!!document.getElementById('r-scale-9--app-04999') && document.querySelectorAll('.card').length === 1",
    )
    .await;
    let url = c.current_url().await.expect("a URL");
    assert_eq!(url.query(), Some("q=app-04999"));
    let _ = c.close().await;

    // With JavaScript off: the same by forms and links.
    let plain = browser_with(driver_port, false).await;
    plain
        .goto(&format!("{base}/"))
        .await
        .expect("the overview loads");
    assert!(
        plain
            .find(Locator::Css("button.apply"))
            .await
            .expect("the Apply button")
            .is_displayed()
            .await
            .unwrap_or(false),
        "without JavaScript the filters are applied with a button"
    );
    assert!(exists(&plain, "#attention").await && exists(&plain, ".ns-summary").await);
    click(&plain, "a[rel=next]").await;
    until_query(&plain, "page 2", |q| q == "page=2").await;
    assert!(text_of(&plain, ".pager").await.contains("101–200 of 5,000"));
    plain
        .find(Locator::Css("#search"))
        .await
        .expect("the search box")
        .send_keys("app-04999")
        .await
        .expect("typing");
    click(&plain, "button.apply").await;
    until_query(&plain, "the search", |q| q.contains("q=app-04999")).await;
    assert!(
        exists(&plain, "#r-scale-9--app-04999").await,
        "found without JavaScript"
    );
    assert_eq!(
        plain
            .find_all(Locator::Css(".card"))
            .await
            .map(|v| v.len())
            .unwrap_or(0),
        1
    );
    // A namespace's row leads to its paused rollouts.
    plain
        .goto(&format!("{base}/"))
        .await
        .expect("the overview loads");
    click(&plain, "#nsrow-scale-3 summary").await;
    click(&plain, "#nsrow-scale-3 a[href*='status=Paused']").await;
    until_query(&plain, "the namespace's paused rollouts", |q| {
        q == "ns=scale-3&status=Paused"
    })
    .await;
    let statuses = plain
        .find_all(Locator::Css(".card .status"))
        .await
        .expect("cards");
    assert!(!statuses.is_empty());
    for s in statuses {
        assert_eq!(s.text().await.unwrap_or_default(), "Paused");
    }
    let _ = plain.close().await;
    dash_stop.cancel();
    let _ = dashboard.await;
}

/// The rollouts of `ns` that wait at a pause (the sim's status), by name.
fn paused_in(sim: &Running, ns: &str) -> Vec<String> {
    let rollouts = rollouts_dashboard::sim::resources::find("argoproj.io", "v1alpha1", "rollouts")
        .expect("rollouts");
    let page = sim
        .server
        .store
        .list(rollouts, &Default::default(), None, None)
        .expect("the rollouts");
    page.items
        .iter()
        .filter(|r| r["metadata"]["namespace"] == ns)
        .filter(|r| {
            r["status"]["pauseConditions"]
                .as_array()
                .is_some_and(|p| !p.is_empty())
        })
        .filter_map(|r| r["metadata"]["name"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_promotes_a_filtered_selection_and_reads_each_answer() {
    let _one = ONE_BROWSER.lock().await;
    let (_driver, driver_port) = start_chromedriver();
    let sim_stop = CancellationToken::new();
    let _sim_guard = sim_stop.clone().drop_guard();
    // 40 rollouts over 10 namespaces; every other one waits at a pause.
    let sim = simulated(Some(40), &sim_stop).await;
    let dash_stop = CancellationToken::new();
    let (addr, dashboard) = dashboard_on_loopback(sim.addr, &dash_stop).await;
    let base = format!("http://{addr}");
    let deadline = Instant::now() + PATIENCE;
    while http::get(&addr.to_string(), "/readyz").map(|(s, _)| s) != Some(200) {
        assert!(Instant::now() < deadline, "the dashboard never synced");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for ns in ["scale-3", "scale-5"] {
        assert_eq!(paused_in(&sim, ns).len(), 4, "{ns} waits");
    }

    // Filter (the Paused chip, then one namespace), tick all, Promote.
    let c = browser(driver_port).await;
    c.goto(&format!("{base}/"))
        .await
        .expect("the overview loads");
    until(
        &c,
        "every card",
        "document.querySelectorAll('.card').length === 40",
    )
    .await;
    click(&c, "input[name=status][value=Paused]").await;
    until(
        &c,
        "the paused ones",
        "location.search === '?status=Paused' && document.querySelectorAll('.card').length === 20",
    )
    .await;
    // As choosing it in the list does (WebDriver's option click sends no
    // input event in headless Chromium).
    js(
        &c,
        "(function () { var s = document.getElementById('ns'); s.value = 'scale-3'; s.dispatchEvent(new Event('input', { bubbles: true })); return true; })()",
    )
    .await;
    until(
        &c,
        "the namespace's paused ones",
        "location.search.includes('ns=scale-3') && document.querySelectorAll('.card').length === 4 && !document.getElementById('bulk-tick').hidden",
    )
    .await;
    click(&c, "#bulk-tick").await;
    until(
        &c,
        "the bar counts the ticked",
        "document.getElementById('bulk-count').textContent === '(4)' && document.querySelector('[data-bulk=promote]').textContent === '4 of 4' && document.querySelector('[data-bulk=retry]').textContent === '0 of 4'",
    )
    .await;
    screenshot(&c, "bulk-overview", "light").await;
    assert_accessible(&c, "the overview with a selection").await;
    click(&c, "button[name=action][value=promote]").await;
    until(
        &c,
        "the preview",
        "document.getElementById('bulk-heading')?.textContent === 'Promote 4 of 4 selected?'",
    )
    .await;
    let effects = js(&c, "Array.from(document.querySelectorAll('table.bulk tbody td:nth-child(4)')).map(function (t) { return t.textContent; })").await;
    assert!(
        effects.as_array().is_some_and(|e| e
            .iter()
            .all(|t| t.as_str().is_some_and(|t| t.starts_with("leaves step")))),
        "the preview says what Promote does to each: {effects}"
    );
    screenshot(&c, "bulk-preview", "light").await;
    screenshot(&c, "bulk-preview", "dark").await;
    assert_accessible(&c, "the preview of a selection's promote").await;
    assert_nothing_scrolls_sideways_at_390(&c).await;
    click(&c, "#bulk-confirm button[type=submit]").await;
    until(
        &c,
        "each answer on the page",
        "Array.from(document.querySelectorAll('td.outcome')).every(function (t) { return t.textContent === 'Done'; }) && document.getElementById('bulk-heading').textContent === 'Promote: 4 of 4 done'",
    )
    .await;
    assert!(
        js(&c, "location.pathname").await == json!("/bulk"),
        "the answers came to the same page, without a reload"
    );
    assert_eq!(
        text_of(&c, "#bulk-progress").await,
        "4 of 4 answered: 4 done, 0 not."
    );
    screenshot(&c, "bulk-results", "light").await;
    assert_accessible(&c, "a selection's answers").await;
    assert!(
        paused_in(&sim, "scale-3").is_empty(),
        "the four selected were promoted"
    );
    // The results page a form post without JavaScript gets (the form sent
    // natively, past the page's script), read by axe.
    c.goto(&format!("{base}/bulk?action=pause&scope=all&ns=scale-7"))
        .await
        .expect("the preview loads");
    until(
        &c,
        "the preview of a pause",
        "document.getElementById('bulk-heading')?.textContent === 'Pause 4 of 4 selected?'",
    )
    .await;
    js(
        &c,
        "HTMLFormElement.prototype.submit.call(document.getElementById('bulk-confirm'))",
    )
    .await;
    until(
        &c,
        "the results page",
        "document.getElementById('bulk-heading')?.textContent === 'Pause: 4 of 4 done' && document.querySelectorAll('table.results tbody tr').length === 4",
    )
    .await;
    assert_accessible(&c, "a selection's results page").await;
    let _ = c.close().await;

    // Without JavaScript: every rollout the filter keeps, by form posts.
    let plain = browser_with(driver_port, false).await;
    plain
        .goto(&format!("{base}/?status=Paused&ns=scale-5"))
        .await
        .expect("the overview loads");
    click(&plain, "input[name=scope][value=all]").await;
    click(&plain, "button[name=action][value=promote]").await;
    until_query(&plain, "the preview", |q| {
        q.contains("scope=all") && q.contains("action=promote")
    })
    .await;
    assert_eq!(
        text_of(&plain, "#bulk-heading").await,
        "Promote 4 of 4 selected?"
    );
    click(&plain, "#bulk-confirm button[type=submit]").await;
    let deadline = Instant::now() + PATIENCE;
    while text_of(&plain, "#bulk-heading").await != "Promote: 4 of 4 done" {
        assert!(
            Instant::now() < deadline,
            "no results page: {}",
            text_of(&plain, "main").await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let outcomes = plain
        .find_all(Locator::Css("table.results td span"))
        .await
        .expect("outcomes");
    assert_eq!(outcomes.len(), 4);
    for o in outcomes {
        assert_eq!(o.text().await.unwrap_or_default(), "Done");
    }
    assert!(paused_in(&sim, "scale-5").is_empty(), "all four promoted");
    let _ = plain.close().await;
    dash_stop.cancel();
    let _ = dashboard.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_watches_two_clusters_from_one_overview() {
    let _one = ONE_BROWSER.lock().await;
    let (_driver, driver_port) = start_chromedriver();
    let sim_stop = CancellationToken::new();
    let _sim_guard = sim_stop.clone().drop_guard();
    // The seed's release in one cluster, 24 generated rollouts in the other.
    let seed = simulated(None, &sim_stop).await;
    let other = simulated(Some(24), &sim_stop).await;
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("a port");
    let addr = listener.local_addr().expect("bound");
    let named = |name: &str, sim: SocketAddr| {
        let mut config = kube::Config::new(format!("http://{sim}").parse().expect("a URL"));
        config.default_namespace = "default".to_string();
        rollouts_dashboard::cluster::client::NamedConnection {
            name: name.to_string(),
            connection: Connection {
                config,
                source: ConfigSource::Given(format!("simulated cluster {name}")),
                scope: Scope::AllNamespaces,
            },
        }
    };
    let clusters = vec![named("prod-eu", seed.addr), named("prod-us", other.addr)];
    let mut web = WebArgs {
        listen: addr,
        auth: AuthMode::None,
        log_format: LogFormat::Text,
        ..WebArgs::defaults()
    };
    web.history.history_db = Some("sqlite::memory:".to_string());
    let dash_stop = CancellationToken::new();
    let stop = dash_stop.clone();
    let dashboard = tokio::spawn(async move {
        if let Err(e) = serve::run_clusters_on(listener, &clusters, &web, stop).await {
            panic!("the dashboard failed: {e}");
        }
    });
    let base = format!("http://{addr}");
    let c = browser(driver_port).await;
    c.goto(&format!("{base}/"))
        .await
        .expect("the overview loads");
    // What needs a person, from both clusters, in one list.
    until(
        &c,
        "the attention list of both clusters",
        "document.querySelector('#fleet-attention a[href^=\"/clusters/prod-eu/\"]') && document.querySelector('#fleet-attention a[href^=\"/clusters/prod-us/\"]') && document.querySelectorAll('#cluster-rows li.cluster-row').length === 2",
    )
    .await;
    until(
        &c,
        "the stream live",
        "document.getElementById('live').textContent === 'Live: 2 clusters'",
    )
    .await;
    screenshot(&c, "clusters-overview", "light").await;
    screenshot(&c, "clusters-overview", "dark").await;
    assert_accessible(&c, "the overview of two clusters").await;
    assert_nothing_scrolls_sideways_at_390(&c).await;

    // The cluster filter leads to that cluster's own overview.
    js(
        &c,
        "(function () { var f = document.getElementById('fleet-filters'); f.querySelector('select[name=cluster]').value = 'prod-us'; f.submit(); return true; })()",
    )
    .await;
    until(
        &c,
        "prod-us's overview",
        "location.pathname === '/clusters/prod-us/' && document.querySelectorAll('.card').length === 24",
    )
    .await;
    assert_eq!(
        text_of(&c, "nav.clusters a[aria-current=page]").await,
        "prod-us",
        "the header says which cluster"
    );
    // A rollout page of the second cluster, live.
    click(&c, ".card h3 a").await;
    until(
        &c,
        "a rollout of prod-us",
        "location.pathname.startsWith('/clusters/prod-us/rollouts/scale-') && !!document.getElementById('steps') && document.getElementById('live').textContent === 'Live'",
    )
    .await;
    screenshot(&c, "clusters-rollout", "light").await;
    assert_accessible(&c, "a rollout page of the second cluster").await;
    assert_nothing_scrolls_sideways_at_390(&c).await;
    // That cluster's release history, at its own URL.
    c.goto(&format!("{base}/clusters/prod-us/releases"))
        .await
        .expect("prod-us's releases load");
    until(
        &c,
        "prod-us's releases, its own",
        "document.querySelectorAll('table.releases tbody a[href^=\"/clusters/prod-us/rollouts/scale-\"]').length > 0 && !document.querySelector('table.releases tbody a[href*=\"manifest-gen\"]')",
    )
    .await;
    assert_accessible(&c, "the second cluster's releases").await;
    assert_nothing_scrolls_sideways_at_390(&c).await;
    let _ = c.close().await;
    dash_stop.cancel();
    let _ = dashboard.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_reads_what_the_canary_actually_receives() {
    let _one = ONE_BROWSER.lock().await;
    let (_driver, driver_port) = start_chromedriver();
    let stop = CancellationToken::new();
    let _stop_guard = stop.clone().drop_guard();
    let sim = simulated(None, &stop).await;
    frozen_at_the_seeds_pause(&sim).await;
    let port = harness::prometheus::Prometheus::reserve_port();
    let _prometheus = harness::prometheus::Prometheus::start(port, sim.addr);
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("a port");
    let base = format!("http://{}", listener.local_addr().expect("bound"));
    let _dashboard = start_dashboard_with(sim.addr, listener, stop.clone(), |web| {
        web.prometheus.prometheus_url = Some(harness::prometheus::Prometheus::url(port));
        web.prometheus.prometheus_window = Duration::from_secs(5);
        web.prometheus.prometheus_interval = Duration::from_secs(1);
    });
    let c = browser(driver_port).await;

    // The rollout page: the canary receives its 20%, live. (NGINX's
    // storefront, whose pods have sidecars, each measured on its own; the
    // seed's ambient pods are one workload to the waypoint.)
    c.goto(&format!("{base}/rollouts/nginx-demo/storefront"))
        .await
        .expect("the rollout page opens");
    until(
        &c,
        "the observed panel with the canary at 20%",
        r#"Array.from(document.querySelectorAll('#observed tr.role-canary td')).some(function (td) { return td.textContent.indexOf('20.0%') >= 0; })"#,
    )
    .await;
    // Read in the page: the panel is swapped live every second.
    let panel = js(&c, "document.querySelector('#observed').textContent")
        .await
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(panel.contains("Observed traffic"), "{panel}");
    assert!(panel.contains("100.0%"), "the success rate: {panel}");
    assert!(
        exists(&c, "#traffic svg rect.observed").await,
        "the traffic bar marks the observed share"
    );
    assert_accessible(&c, "the rollout page with observed traffic").await;
    assert_nothing_scrolls_sideways_at_390(&c).await;
    screenshot(&c, "rollout-observed", "light").await;
    screenshot(&c, "rollout-observed", "dark").await;

    // The overview card marks it on its bar too.
    c.goto(&format!("{base}/"))
        .await
        .expect("the overview opens");
    until(
        &c,
        "the card's observed mark",
        r#"!!document.querySelector('#r-nginx-demo--storefront svg rect.observed')"#,
    )
    .await;
    until(
        &c,
        "the card saying observed 20%",
        "document.querySelector('#r-nginx-demo--storefront').textContent.indexOf('observed 20%') >= 0",
    )
    .await;

    // The other routers' rollouts: the split as each router has it reads
    // well too (NGINX's with its header route).
    for (page, shows) in [
        (
            "nginx-demo/storefront",
            "NGINX · Ingress storefront-storefront-canary",
        ),
        ("alb-demo/payments", "AWS ALB · Ingress payments"),
        ("gateway-demo/catalog", "Gateway API · HTTPRoute catalog"),
    ] {
        c.goto(&format!("{base}/rollouts/{page}"))
            .await
            .expect("the rollout page opens");
        // Read in the page: the live stream may swap the panel meanwhile
        // (WebDriver's element would then be stale).
        until(
            &c,
            &format!("{page}'s traffic panel"),
            &format!(
                "(document.querySelector('#traffic') || {{}}).textContent.indexOf({}) >= 0",
                json!(shows)
            ),
        )
        .await;
        assert_accessible(&c, page).await;
    }
    let _ = c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_reads_the_release_history_and_the_releases_page() {
    let _one = ONE_BROWSER.lock().await;
    let (_driver, driver_port) = start_chromedriver();
    let stop = CancellationToken::new();
    let _stop_guard = stop.clone().drop_guard();
    let sim = simulated(None, &stop).await;
    frozen_at_the_seeds_pause(&sim).await;
    let (addr, _dashboard) = dashboard_on_loopback(sim.addr, &stop).await;
    let base = format!("http://{addr}");
    let c = browser(driver_port).await;

    // The History panel: revision 2 in progress at its pause.
    c.goto(&format!("{base}/rollouts/manifest-gen/manifest-gen"))
        .await
        .expect("the rollout page opens");
    until(
        &c,
        "the stream live",
        "document.getElementById('live').textContent === 'Live'",
    )
    .await;
    c.goto(&format!("{base}/rollouts/manifest-gen/manifest-gen"))
        .await
        .expect("the rollout page opens again, with what was recorded");
    until(
        &c,
        "revision 2 in progress in the History panel",
        "(document.querySelector('#history details[data-revision=\"2\"] summary')?.textContent || '').includes('in progress')",
    )
    .await;

    // A promote: the panel follows without a reload, with the new step and
    // the promote on the timeline.
    js(&c, "window.__sameDocument = true").await;
    // Clicked in the page: the live stream may swap the header under a
    // WebDriver element reference.
    js(
        &c,
        "(function () { document.querySelector('button[data-action=promote]').click(); return true; })()",
    )
    .await;
    until(
        &c,
        "the confirmation",
        "document.getElementById('confirm').open",
    )
    .await;
    js(
        &c,
        "(function () { document.getElementById('confirm-yes').click(); return true; })()",
    )
    .await;
    sim.server
        .store
        .clock
        .advance(jiff::SignedDuration::from_secs(3));
    until(
        &c,
        "the History panel shows the 50% step",
        "(document.querySelector('#history details[data-revision=\"2\"]')?.textContent || '').includes('Set weight 50%')",
    )
    .await;
    let history = js(
        &c,
        "document.querySelector('#history details[data-revision=\"2\"]').textContent",
    )
    .await
    .as_str()
    .unwrap_or_default()
    .to_string();
    assert!(history.contains("Pause until promoted"), "{history}");
    assert!(
        history.contains("promote"),
        "the promote is listed: {history}"
    );
    assert!(
        history.contains("this dashboard (no sign-in)"),
        "who promoted, without sign-in: {history}"
    );
    let timeline = js(
        &c,
        "document.querySelector('#history details[data-revision=\"2\"] figure.timeline svg').getAttribute('aria-label')",
    )
    .await;
    assert!(
        timeline
            .as_str()
            .is_some_and(|t| t.starts_with("Revision 2:")),
        "{timeline}"
    );
    assert_eq!(
        js(
            &c,
            "document.querySelectorAll('#history details[data-revision=\"2\"] rect.step-bar').length >= 3 && document.querySelectorAll('#history details[data-revision=\"2\"] .marker-promote').length === 1"
        )
        .await,
        json!(true),
        "a bar per step, the promote as a marker"
    );
    assert_eq!(
        js(&c, "window.__sameDocument === true").await,
        json!(true),
        "no reload"
    );
    assert_accessible(&c, "the rollout page with its history").await;
    assert_nothing_scrolls_sideways_at_390(&c).await;
    js(
        &c,
        "(function () { document.getElementById('history').scrollIntoView(); return true; })()",
    )
    .await;
    screenshot(&c, "rollout-history", "light").await;
    screenshot(&c, "rollout-history", "dark").await;

    // The Releases page, from the panel's link, filtered to the namespace.
    click(&c, "#history a[href*='releases']").await;
    until(
        &c,
        "the Releases page",
        "document.querySelector('h1')?.textContent === 'Releases'",
    )
    .await;
    let page = js(&c, "document.querySelector('main').textContent")
        .await
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(page.contains("manifest-gen/manifest-gen"), "{page}");
    assert!(page.contains("in progress"), "{page}");
    assert!(!page.contains("shop/"), "filtered to manifest-gen: {page}");
    assert_eq!(
        js(&c, "document.querySelector('select[name=ns]').value").await,
        json!("manifest-gen")
    );
    // Every namespace, promoted releases only: revision 1 of each rollout.
    js(
        &c,
        "(function () { document.querySelector('select[name=ns]').value = ''; document.querySelector('select[name=outcome]').value = 'promoted'; document.querySelector('.release-filter').submit(); return true; })()",
    )
    .await;
    until(
        &c,
        "the filter applied",
        "location.search.includes('outcome=promoted') && document.querySelector('h1')?.textContent === 'Releases'",
    )
    .await;
    let rows = js(
        &c,
        "Array.from(document.querySelectorAll('table.releases tbody tr')).map(function (r) { return r.textContent; })",
    )
    .await;
    let rows = rows.as_array().cloned().unwrap_or_default();
    assert!(rows.len() > 1, "{rows:?}");
    assert!(
        rows.iter()
            .all(|r| r.as_str().is_some_and(|t| t.contains("promoted"))),
        "{rows:?}"
    );
    assert_accessible(&c, "the Releases page").await;
    assert_nothing_scrolls_sideways_at_390(&c).await;
    screenshot(&c, "releases", "light").await;
    let _ = c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_reads_the_canary_beside_stable_and_follows_its_log() {
    let _one = ONE_BROWSER.lock().await;
    let (_driver, driver_port) = start_chromedriver();
    let stop = CancellationToken::new();
    let _stop_guard = stop.clone().drop_guard();
    let sim = simulated(None, &stop).await;
    frozen_at_the_seeds_pause(&sim).await;
    // The pods have served a while before the page opens.
    sim.server
        .store
        .clock
        .advance(jiff::SignedDuration::from_secs(20));
    let (addr, _dashboard) = dashboard_on_loopback(sim.addr, &stop).await;
    let base = format!("http://{addr}");
    let c = browser(driver_port).await;

    // From the rollout page to its logs.
    c.goto(&format!("{base}/rollouts/manifest-gen/manifest-gen"))
        .await
        .expect("the rollout page opens");
    until(
        &c,
        "the Logs link",
        "!!document.querySelector('.page-links a')",
    )
    .await;
    click(&c, ".page-links a").await;
    until(
        &c,
        "canary and stable, side by side",
        "document.querySelectorAll('.log-column').length === 2",
    )
    .await;
    let titles = js(
        &c,
        "Array.from(document.querySelectorAll('.log-column h2')).map(function (h) { return h.textContent; }).join(' | ')",
    )
    .await;
    assert_eq!(
        titles,
        json!("Canary · revision 2 1 pod | Stable · revision 1 1 pod"),
    );
    let side_by_side = js(
        &c,
        "(function () { var c = document.querySelectorAll('.log-column'); return c[0].getBoundingClientRect().top === c[1].getBoundingClientRect().top; })()",
    )
    .await;
    assert_eq!(side_by_side, json!(true), "at 1280 px the two share a row");
    let lines = js(&c, "document.querySelectorAll('#logs-canary li').length").await;
    assert!(lines.as_u64().is_some_and(|n| n >= 10), "{lines}");
    assert_accessible(&c, "the logs page").await;
    assert_nothing_scrolls_sideways_at_390(&c).await;
    screenshot(&c, "logs", "light").await;
    screenshot(&c, "logs", "dark").await;

    // The filter: only lines with the text, on both sides.
    c.find(Locator::Css("input[name=filter]"))
        .await
        .expect("the filter")
        .send_keys("/api/items/42")
        .await
        .expect("typed");
    click(&c, ".logs-filter button[type=submit]").await;
    until_query(&c, "the filtered page", |q| q.contains("filter=")).await;
    until(
        &c,
        "only matching lines",
        "document.querySelectorAll('.log-lines li').length > 0 && Array.from(document.querySelectorAll('.log-lines li code')).every(function (l) { return l.textContent.indexOf('/api/items/42') >= 0; })",
    )
    .await;

    // Follow: a line the canary writes now appears without a reload.
    c.goto(&format!(
        "{base}/rollouts/manifest-gen/manifest-gen/logs?role=canary"
    ))
    .await
    .expect("the canary's logs open");
    until(
        &c,
        "the Follow button",
        "!document.getElementById('logs-follow').hidden",
    )
    .await;
    let before = js(&c, "document.querySelectorAll('#logs-canary li').length")
        .await
        .as_u64()
        .unwrap_or(0);
    click(&c, "#logs-follow").await;
    until(
        &c,
        "following",
        "document.getElementById('logs-follow').getAttribute('aria-pressed') === 'true'",
    )
    .await;
    let clock = sim.server.store.clock.clone();
    let ticking = tokio::spawn(async move {
        for _ in 0..100 {
            clock.advance(jiff::SignedDuration::from_secs(1));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    until(
        &c,
        "a new line, live",
        &format!("document.querySelectorAll('#logs-canary li').length > {before}"),
    )
    .await;
    ticking.abort();
    click(&c, "#logs-follow").await;
    until(
        &c,
        "paused",
        "document.getElementById('logs-follow').textContent === 'Follow'",
    )
    .await;
    let _ = c.close().await;
}

/// The demo's failing canary (shop/search) is aborted by its analysis after
/// 20 s at half the traffic: the analysis shows its query, its condition
/// and why it stopped; its History entry shows the last lines its pod
/// left, 503s among them, and links the revision's page of all of them;
/// both read well in light and dark at 1280 and 390 px.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_reads_what_an_aborted_canary_left_on_its_history_entry() {
    let _one = ONE_BROWSER.lock().await;
    let (_driver, driver_port) = start_chromedriver();
    let stop = CancellationToken::new();
    let _stop_guard = stop.clone().drop_guard();
    let sim = simulated(None, &stop).await;
    frozen_at_the_seeds_pause(&sim).await;
    let (addr, _dashboard) = dashboard_on_loopback(sim.addr, &stop).await;
    let addr = addr.to_string();
    let base = format!("http://{addr}");
    let deadline = Instant::now() + PATIENCE;
    while http::get(&addr, "/readyz").map(|(s, _)| s) != Some(200) {
        assert!(
            Instant::now() < deadline,
            "the dashboard never became ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Its pause runs out, its analysis fails, the controller aborts it.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let kept = http::get(&addr, "/api/v1/rollouts/shop/search/history")
            .is_some_and(|(_, body)| body.contains("\"keptLogs\""));
        if kept {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the aborted canary's lines were never kept"
        );
        sim.server
            .store
            .clock
            .advance(jiff::SignedDuration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let c = browser(driver_port).await;
    c.goto(&format!("{base}/rollouts/shop/search"))
        .await
        .expect("the rollout page opens");
    until(
        &c,
        "the kept lines on revision 2's History entry",
        "document.querySelectorAll('#history details[data-revision=\"2\"] .kept-lines li').length === 10",
    )
    .await;
    let open = js(
        &c,
        "document.querySelector('#history details[data-revision=\"2\"]').open",
    )
    .await;
    assert_eq!(open, json!(true), "the newest revision is open");
    // Its failed analysis says what it asked, what passes, and why it
    // stopped.
    let spec = text_of(&c, "#analysis .metric-spec").await;
    assert!(
        spec.contains("Prometheus") && spec.contains("istio_requests_total"),
        "{spec}"
    );
    assert!(spec.contains("result[0] >= 0.95"), "{spec}");
    let stopped = text_of(&c, "#analysis .stopped").await;
    assert_eq!(
        stopped,
        "It stopped because success-rate failed once, more than its failure limit of 0 allows; the rollout was aborted."
    );
    let sentence = text_of(&c, "#history .kept-logs p").await;
    assert!(sentence.starts_with("Kept at "), "{sentence}");
    assert!(
        sentence.contains("among them"),
        "errors counted: {sentence}"
    );
    assert_accessible(&c, "the History entry with kept lines").await;
    assert_nothing_scrolls_sideways_at_390(&c).await;
    screenshot(&c, "history-kept-logs", "light").await;
    screenshot(&c, "history-kept-logs", "dark").await;

    // All of them, on the revision's own page.
    click(&c, "#history .kept-logs p a").await;
    until(
        &c,
        "the revision's kept lines, its 503s among them",
        "document.querySelectorAll('.kept-log .kept-lines li').length >= 10 && Array.from(document.querySelectorAll('.kept-log .kept-lines li.error code')).some(function (l) { return l.textContent.indexOf('status=503') >= 0; })",
    )
    .await;
    let heading = text_of(&c, "h1").await;
    assert!(
        heading.starts_with("Revision 2: its pods' last lines"),
        "{heading}"
    );
    assert_accessible(&c, "the revision's kept lines").await;
    assert_nothing_scrolls_sideways_at_390(&c).await;
    screenshot(&c, "kept-logs", "light").await;
    let _ = c.close().await;
}

/// The seed's canary page says what revision 2 changed (its image, from
/// revision 1), and Roll back's confirmation what going back would change;
/// axe-clean in light and dark at 1280 and 390 px, the confirmation open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_sees_what_the_canary_changed_and_what_a_rollback_would() {
    let _one = ONE_BROWSER.lock().await;
    let (_driver, driver_port) = start_chromedriver();
    let stop = CancellationToken::new();
    let _stop_guard = stop.clone().drop_guard();
    let sim = simulated(None, &stop).await;
    frozen_at_the_seeds_pause(&sim).await;
    let (addr, _dashboard) = dashboard_on_loopback(sim.addr, &stop).await;
    let base = format!("http://{addr}");
    let c = browser(driver_port).await;
    c.goto(&format!("{base}/rollouts/manifest-gen/manifest-gen"))
        .await
        .expect("the rollout page opens");
    until(
        &c,
        "the What changed panel",
        "!!document.querySelector('#changes table')",
    )
    .await;
    let title = text_of(&c, "#changes h2 small").await;
    assert_eq!(title, "Revision 1 → revision 2");
    let row = text_of(&c, "#changes tbody tr").await;
    assert!(
        row.contains("containers[manifest-gen].image")
            && row.contains("anantvaid4/manifest-generator-api:v1")
            && row.contains("anantvaid4/manifest-generator-api:v2"),
        "{row}"
    );
    assert_accessible(&c, "the What changed panel").await;
    assert_nothing_scrolls_sideways_at_390(&c).await;

    // Roll back to revision 1: the confirmation says what it changes.
    js(
        &c,
        "(function () { document.querySelector('form[data-diff] button').click(); return true; })()",
    )
    .await;
    until(
        &c,
        "the rollback's diff in its confirmation",
        "document.getElementById('confirm').open && !document.getElementById('confirm-diff').hidden",
    )
    .await;
    let said = text_of(&c, "#confirm-diff").await;
    assert_eq!(
        said,
        "Rolling back to revision 1 changes image anantvaid4/manifest-generator-api:v2 → anantvaid4/manifest-generator-api:v1."
    );
    assert_accessible(&c, "the rollback confirmation with its diff").await;
    screenshot(&c, "rollback-diff", "light").await;
    click(&c, "#confirm-no").await;
    let _ = c.close().await;
}
