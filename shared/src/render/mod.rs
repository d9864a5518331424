//! Liquid rendering (placeholder until the render module lands).
pub mod value;
