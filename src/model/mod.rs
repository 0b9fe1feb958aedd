//! The domain: twins, relationships and DTDL models, and the rules they obey.
//!
//! Everything here is a pure function of its inputs: no clock, no randomness, no I/O. That is what
//! lets `storage::apply` be deterministic — every replica that runs the same command over the same
//! state computes the same document, byte for byte.

pub mod dtdl;
pub mod dtmi;
pub mod etag;
pub mod limits;
pub mod patch;
pub mod relationship;
pub mod sample;
pub mod time;
pub mod twin;

#[cfg(test)]
mod patch_fuzz_tests;
#[cfg(test)]
mod twin_fuzz_tests;
