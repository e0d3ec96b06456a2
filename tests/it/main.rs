//! Every integration test but the browser suite, in one binary: each file
//! under `tests/` is a binary of its own to compile and link, so a new test
//! goes in a module here (see DO_NOT_ADD_MORE_TESTS_HERE beside this folder).
//!
//! Helpers, shared by every module: `common` (fixtures into objects and
//! views), `harness` (a dashboard in this process on the simulated cluster,
//! PostgreSQL, Prometheus), `http` (a plain HTTP client for child
//! processes), `oidc_provider` (a real OpenID provider), `teams` (the
//! multi-team cluster with RBAC and a dashboard in front of it).

mod common;
mod harness;
mod http;
mod oidc_provider;
mod teams;

mod access_cache;
mod actions;
mod analysis_and_experiments;
mod argo_info_fixtures;
mod attacks;
mod auth;
mod beyond_argo;
mod bulk;
mod chart;
mod chart_rbac;
mod cli;
mod clusters;
mod demo;
mod edge;
mod history;
mod in_a_pod;
mod kept_logs;
mod kmock_crosscheck;
mod live_faults;
mod live_view;
mod logs;
mod malformed_input;
mod observed_traffic;
mod oidc;
mod overview_feeds;
mod pages;
mod routers;
mod routers_live;
mod sim_apiserver;
mod sim_controller;
mod sim_kubectl;
mod sim_rbac;
mod what_changed;
