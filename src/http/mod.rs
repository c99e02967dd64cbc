//! The HTTP endpoint: the server and its limits, the connections it tracks, the web
//! config (TLS, basic auth, headers, rate limit). `/metrics`, `/status.json` and `/`
//! all read the same published snapshot.

pub mod connections;
mod negotiation;
pub mod server;
pub mod web;
