//! PURE: which actions apply to a rollout now, and (with the actions issue)
//! the exact patches each sends. No I/O.

mod availability;

pub use availability::{Action, ActionState, availability};
