//! The twin query language: Azure Digital Twins' SQL-like language over the twin graph.
//!
//! THE LANGUAGE
//! ============
//!
//! ```text
//! SELECT [TOP(n)] * | COUNT() | <name> | <name>.<path> [AS <column>], ...
//! FROM DIGITALTWINS [<name>] | FROM RELATIONSHIPS [<name>]
//!      [JOIN <target> RELATED <source>.<relationship> [<relName>]]...      -- up to 5
//!      | [MATCH (<a>)-[<r>:<name>|<name>*<hops>]->(<b>)<-[...]-(<c>)...]  -- up to 10 hops
//! [WHERE <condition>]
//! [ORDER BY <name>.<path> [ASC|DESC], ...]                                 -- beyond ADT
//! ```
//!
//! - Keywords are case-insensitive; property names, relationship names and values are not.
//!   Collection names (aliases) match without regard to case, as in ADT's own examples. ADT's
//!   reserved words must be escaped to be used as names: `[[Group]]`; so must map keys that are
//!   not identifiers: `T.map.[[1st]]`. After a `.` any word is a property name (`T.count`).
//! - Strings are `'...'` (or `"..."`) with `\'` escapes; numbers are JSON numbers; `true`,
//!   `false`, `null`.
//! - Without an alias, `FROM DIGITALTWINS` makes bare paths refer to the twin (`WHERE
//!   IS_DEFINED(Location)`, `SELECT name`); with one, every path starts with a collection name.
//! - Conditions: `= != < <= > >=`, `IN [..]`, `NIN [..]` (or `NOT IN`), `AND OR NOT`, parentheses,
//!   paths through objects and maps (`T.a.b`), the `$` fields (`$dtId`, `$etag`,
//!   `$metadata.$model`, `$metadata.<prop>.lastUpdateTime`, `$sourceId`, `$relationshipName`...),
//!   and the functions `IS_OF_MODEL([name,] 'dtmi' [, exact])` (the model, a later version of it, or
//!   a model extending either — unless `exact`), `IS_DEFINED`, `IS_NULL`, `IS_BOOL`, `IS_NUMBER`,
//!   `IS_STRING`, `IS_OBJECT`, `IS_PRIMITIVE`, `STARTSWITH`, `ENDSWITH`, `CONTAINS`,
//!   `ARRAY_CONTAINS`. Missing properties make a comparison *undefined* ([`eval`]).
//! - Results: `SELECT *` returns the documents (with MATCH: an object of the named twins and
//!   relationship variables); projections return objects keyed by collection name, by the
//!   property's last name, or by the `AS` name, leaving out properties a row does not have;
//!   `COUNT()` returns `{"COUNT": n}` (also over relationships, with any WHERE).
//! - MATCH follows ADT: `-[]->`, `<-[]-`, `-[]-`; `[:a|b]` names; `[*3]` exactly 3 hops, `[*1..3]`
//!   2 or 3 (the start of a range is excluded), `[*..2]` 1 or 2; a variable (`[r:contains]`) only on
//!   a single hop; one row per twin reached (per relationship when the condition has a variable);
//!   a row never holds one twin twice.
//!
//! Beyond ADT: `ORDER BY`; `COUNT()` with any WHERE on relationships; a JOIN or MATCH needs no
//! `$dtId` filter (without one the first twin is scanned), and a `$dtId` filter on *any* twin of it
//! is used as the starting point, where ADT may return nothing for filters on non-start twins.
//!
//! Not implemented: aggregates other than `COUNT()` (`AVG`, `SUM`, `MIN`, `MAX`, `GROUP BY` are
//! reserved in ADT too), subqueries (ADT has none), functions in SELECT, arithmetic.
//!
//! Limits, each refused with a clear error: 8,000 characters, 50 AND/OR operators, 50 IN/NIN
//! values, 5 JOINs, 10 hops, 60 s per query, 1,000,000 rows or 128 MiB of results per query.
//!
//! PLAN AND EXECUTE
//! ================
//!
//! A query goes through [`lexer`] (text to tokens with positions), [`parser`] (tokens to the
//! [`ast`], by recursive descent, with "expected X, found Y at line L, column C" errors),
//! [`planner`] (names resolved, rules checked, an access path chosen by [`access`]: `$dtId` lookups, the
//! twins-by-model index for `IS_OF_MODEL`, edge indexes for JOIN and MATCH, a scan otherwise; the
//! filters pushed to the earliest step that can check them) and [`exec`] (a depth-first walk over
//! the store that streams edges, parses documents only when a condition needs them, stops early for
//! `TOP`, and checks the deadline and a cancellation flag as it reads). [`engine`] serves the
//! result page by page with continuation tokens and reports each page's cost.
//!
//! A query is a read like any other: it runs against the node's state machine, which holds every
//! write acknowledged so far, so a twin written and then queried is in the result (ADT's queries lag
//! writes by up to 10 s). sled has no snapshots, so a query that runs while writes are applied sees
//! each twin as of some committed write, not the whole graph at one instant; the applied index it
//! reports is the one it started at.
//!
//! This layer uses only `model`, `storage` and `error`: no async runtime. The API runs it on a
//! blocking thread.

pub mod access;
pub mod ast;
pub mod engine;
pub mod eval;
pub mod exec;
#[cfg(test)]
mod fixture;
#[cfg(test)]
mod fuzz_tests;
pub mod lexer;
pub mod parser;
pub mod planner;

pub use engine::{Engine, Page, Request, run};
