//! `storecast-dev`: the operator commands (`ops`), the local emulation of AWS (`local`: the stack
//! of template.yaml on the local endpoint, the event source mappings, the local API), the demos
//! (`demos`) and the template authors' tools (`tools`). See docs/architecture.md, "The dev tool".

pub mod demos;
pub mod local;
pub mod ops;
pub mod tools;
