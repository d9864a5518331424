//! HTTP adapters of the ports, for services that are not AWS's (reqwest over rustls). Like
//! `aws/`, no client type crosses a port.

pub mod breaker;
pub mod scoring;
