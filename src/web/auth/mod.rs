//! Who a person is and what they may do: identity in each `--auth` mode,
//! sealed sessions and the OpenID sign-in, the rights they hold (access
//! reviews as permissions), the cross-site guard, the bounds every request
//! and stream meets before sign-in, and streams ended when rights lapse.

pub mod gate;
pub mod guard;
pub mod identity;
pub mod limits;
pub mod permissions;
pub mod revocation;
pub mod session;
pub mod sign_in;
