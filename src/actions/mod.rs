//! PURE: which actions apply to a rollout now, and the exact Kubernetes
//! calls each sends, the same as `kubectl argo rollouts`. No I/O: `cluster/act.rs` fetches the
//! objects and sends the plan.

mod expect;
mod plan;
mod rollback;
mod set_image;

// Which actions apply is part of the view model; re-exported here, where
// the plans for them are made.
pub use crate::info::available::{Action, ActionState, availability, refusal_now};
pub use expect::{Expectation, check_expectation, step_words};
pub use plan::{PatchPlan, Refusal, Target, plan, verb};
pub use rollback::plan_rollback;
pub use set_image::plan_set_image;
