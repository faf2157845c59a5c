//! The protocols through which relying parties reach the IdP. Each keeps its rules pure (a
//! request, the registration, the stored state and the time in; a decision out) and its HTTP
//! handlers thin.

pub mod oidc;
