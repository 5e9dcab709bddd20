//! Photos: the upload is streamed to a temporary file, decoded under limits, re-encoded without
//! metadata in a display size and a thumbnail, and kept in an object store.

pub mod pipeline;
pub mod store;
pub mod upload;
