//! DTDL models: parsing, checking and flattening Interfaces, and validating twins against them.
//!
//! A model upload goes through three steps, each a pure function so that every replica reaches the
//! same verdict on the same input:
//!
//! 1. [`parse_batch`] reads the JSON and checks each Interface *in isolation* (syntax, names,
//!    schemas, ADT's restrictions such as "no Commands"). It also returns each Interface's canonical
//!    JSON text, which is what the store keeps and what [`parse_interface`] reads back to rebuild
//!    caches.
//! 2. [`check_batch`] checks the batch *against itself and the stored models*: ids are new,
//!    `extends` and component references resolve, there are no cycles, inheritance stays within
//!    DTDL's limits and never redeclares a name, components nest one level only.
//! 3. [`resolve()`] flattens a stored model and everything it inherits into a [`ResolvedModel`], the
//!    form twin and relationship writes are validated against
//!    ([`ResolvedModel::validate_contents`], [`ResolvedModel::validate_relationship_properties`]).
//!
//! The files, one concept each:
//! - [`interface`]: the parsed form (Interface, its contents, [`ModelSource`]);
//! - [`schema`]: the schema tree and [`Schema::validate`], checking JSON values against it;
//! - [`formats`]: the string formats of primitive schemas (dates, durations, uuids, base64);
//! - [`geo`]: GeoJSON geometry checks for the geospatial schemas;
//! - [`json`]: reading JSON-LD members (string-or-array values, localizable strings, names);
//! - [`parse`]: Interface-level parsing and the per-Interface rules;
//! - [`parse_schema`]: schema parsing (primitives, complex schemas, named schema references);
//! - [`batch`]: [`check_batch`], the cross-model rules;
//! - [`mod@resolve`]: [`ResolvedModel`] and twin validation.
//!
//! Errors follow one pattern: `model <id>: <element>: <what is wrong>`, with code
//! `DTDLParserError` for a model that breaks a rule, `LimitExceeded` for size and count limits, and
//! `InvalidArgument` for input that is not JSON at all.

pub mod batch;
pub mod formats;
pub mod geo;
pub mod interface;
pub mod json;
pub mod parse;
pub mod parse_schema;
pub mod resolve;
pub mod schema;

pub use batch::check_batch;
pub use interface::{
    ComponentDef, Content, Interface, ModelSource, PropertyDef, RelationshipDef, TelemetryDef,
};
pub use parse::{parse_batch, parse_interface};
pub use resolve::{ResolvedModel, resolve};
pub use schema::{EnumValueSchema, Schema};

/// The most elements (contents, schemas, fields, enum values…) one Interface's contents may hold,
/// counting every use of a named schema: DTDL's limit, and a guard against a small model whose
/// named schemas reference each other into an enormous expanded tree.
pub const MAX_ELEMENTS_PER_INTERFACE: usize = 100_000;
/// The deepest nesting of complex schemas (Array, Enum, Map, Object) DTDL allows.
pub const MAX_SCHEMA_DEPTH: usize = 5;
/// The most Interfaces one inheritance hierarchy may contain.
pub const MAX_INTERFACES_IN_HIERARCHY: usize = 1024;
/// The most entries a DTDL v2 `extends` may list.
pub const MAX_V2_EXTENDS: usize = 2;

#[cfg(test)]
mod fuzz_tests;
