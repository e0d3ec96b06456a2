//! The simulated cluster with `--users`, as kube-rs (any Kubernetes client)
//! sees it: bearer tokens authenticate, RBAC decides with the real API
//! server's words, impersonation needs `impersonate`, and the three review
//! kinds answer.

use crate::teams;
use crate::teams::two_teams;

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec, SubjectAccessReview,
    SubjectAccessReviewSpec,
};
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube::core::ApiResource;
use rollouts_dashboard::model::Rollout;
use teams::Cluster;

fn client(c: &Cluster, token: Option<&str>, impersonate: Option<(&str, &[&str])>) -> Client {
    let mut config = kube::Config::new(format!("http://{}", c.addr).parse().expect("a URL"));
    config.auth_info.token = token.map(|t| secrecy::SecretString::from(t.to_string()));
    if let Some((user, groups)) = impersonate {
        config.auth_info.impersonate = Some(user.to_string());
        config.auth_info.impersonate_groups = Some(groups.iter().map(|g| g.to_string()).collect());
    }
    Client::try_from(config).expect("a client")
}

fn rollouts(client: Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client, ns, &ApiResource::erase::<Rollout>(&()))
}

fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

fn attributes(ns: &str, verb: &str, sub: Option<&str>) -> ResourceAttributes {
    ResourceAttributes {
        namespace: Some(ns.to_string()),
        verb: Some(verb.to_string()),
        group: Some("argoproj.io".to_string()),
        resource: Some("rollouts".to_string()),
        subresource: sub.map(str::to_string),
        ..ResourceAttributes::default()
    }
}

#[tokio::test]
async fn tokens_rbac_and_impersonation_as_a_client_sees_them() {
    let c = two_teams().await;

    let anonymous = rollouts(client(&c, None, None), "team-a");
    let e = anonymous
        .list(&ListParams::default())
        .await
        .expect_err("no token");
    assert_eq!(status_code(&e), Some(401), "{e}");
    let wrong = rollouts(client(&c, Some("nope"), None), "team-a");
    assert_eq!(
        status_code(
            &wrong
                .list(&ListParams::default())
                .await
                .expect_err("bad token")
        ),
        Some(401)
    );

    let alice = client(&c, Some("alice-token"), None);
    let mine = rollouts(alice.clone(), "team-a")
        .list(&ListParams::default())
        .await
        .expect("her team's");
    assert_eq!(mine.items.len(), 1);
    let e = rollouts(alice.clone(), "team-b")
        .list(&ListParams::default())
        .await
        .expect_err("not her team");
    assert_eq!(status_code(&e), Some(403));
    assert!(
        e.to_string().contains(
            "rollouts.argoproj.io is forbidden: User \"alice\" cannot list resource \"rollouts\" in API group \"argoproj.io\" in the namespace \"team-b\""
        ),
        "{e}"
    );

    // Asking about herself needs no permission.
    let own = Api::<SelfSubjectAccessReview>::all(alice.clone());
    let ask = |ns: &str| SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(attributes(ns, "patch", Some("status"))),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    let allowed = |r: SelfSubjectAccessReview| r.status.is_some_and(|s| s.allowed);
    assert!(allowed(
        own.create(&PostParams::default(), &ask("team-a"))
            .await
            .expect("answered")
    ));
    assert!(!allowed(
        own.create(&PostParams::default(), &ask("team-b"))
            .await
            .expect("answered")
    ));

    // Asking about others, or checking tokens, does.
    let sar = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some("bob".to_string()),
            groups: Some(vec!["viewers".to_string()]),
            resource_attributes: Some(attributes("team-a", "list", None)),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    };
    let e = Api::<SubjectAccessReview>::all(alice.clone())
        .create(&PostParams::default(), &sar)
        .await
        .expect_err("alice may not review others");
    assert_eq!(status_code(&e), Some(403));
    let dashboard = client(&c, Some("dashboard-token"), None);
    let answer = Api::<SubjectAccessReview>::all(dashboard.clone())
        .create(&PostParams::default(), &sar)
        .await
        .expect("the dashboard may");
    assert!(
        answer.status.is_some_and(|s| s.allowed),
        "bob may list team-a"
    );
    let review = |token: &str| TokenReview {
        spec: TokenReviewSpec {
            token: Some(token.to_string()),
            ..TokenReviewSpec::default()
        },
        ..TokenReview::default()
    };
    let tokens = Api::<TokenReview>::all(dashboard.clone());
    let carol = tokens
        .create(&PostParams::default(), &review("carol-token"))
        .await
        .expect("answered");
    let status = carol.status.expect("a status");
    assert_eq!(status.authenticated, Some(true));
    let user = status.user.expect("a user");
    assert_eq!(user.username.as_deref(), Some("carol"));
    assert_eq!(
        user.groups,
        Some(vec![
            "team-b".to_string(),
            "system:authenticated".to_string()
        ])
    );
    let nobody = tokens
        .create(&PostParams::default(), &review("nope"))
        .await
        .expect("answered");
    assert_eq!(nobody.status.and_then(|s| s.authenticated), Some(false));

    // Impersonation: the dashboard may, and then acts exactly as alice.
    let as_alice = client(&c, Some("dashboard-token"), Some(("alice", &["team-a"])));
    assert!(
        rollouts(as_alice.clone(), "team-a")
            .list(&ListParams::default())
            .await
            .is_ok()
    );
    let e = rollouts(as_alice, "team-b")
        .list(&ListParams::default())
        .await
        .expect_err("as alice");
    assert!(e.to_string().contains("User \"alice\""), "{e}");
    // alice may not impersonate anyone.
    let e = rollouts(
        client(&c, Some("alice-token"), Some(("carol", &["team-b"]))),
        "team-b",
    )
    .list(&ListParams::default())
    .await
    .expect_err("alice cannot impersonate");
    assert_eq!(status_code(&e), Some(403));
    assert!(
        e.to_string()
            .contains("cannot impersonate resource \"users\""),
        "{e}"
    );
}
