//! The abstract syntax tree: a query as the parser read it, before names are resolved.
//!
//! Nothing here is checked against anything but the grammar: an alias may be unknown, a JOIN may
//! name a collection that is not a twin, `SELECT *` may stand next to a JOIN. The planner checks
//! those rules, so that this tree stays a plain picture of the text (and the parser's tests can
//! compare trees).

use super::lexer::Pos;
use serde_json::Value;

/// A parsed query.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    /// `TOP(n)`.
    pub top: Option<u64>,
    /// What to return.
    pub select: Select,
    /// The collection and its alias.
    pub from: From,
    /// `JOIN` clauses, in order.
    pub joins: Vec<Join>,
    /// The `MATCH` pattern.
    pub pattern: Option<Pattern>,
    /// The `WHERE` condition.
    pub filter: Option<Expr>,
    /// `ORDER BY` keys, in order.
    pub order: Vec<OrderKey>,
}

/// The SELECT list.
#[derive(Clone, Debug, PartialEq)]
pub enum Select {
    /// `SELECT *` (or `SELECT TOP(n)` with nothing after it).
    All,
    /// `SELECT COUNT()`.
    Count,
    /// Projections.
    Items(Vec<SelectItem>),
}

/// One projection: a collection or a property path, with an optional `AS` name.
#[derive(Clone, Debug, PartialEq)]
pub struct SelectItem {
    /// What to project.
    pub path: Path,
    /// The `AS` name.
    pub alias: Option<Name>,
}

/// The collection a query reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Collection {
    /// `DIGITALTWINS`.
    Twins,
    /// `RELATIONSHIPS`.
    Relationships,
}

/// The FROM clause.
#[derive(Clone, Debug, PartialEq)]
pub struct From {
    /// The collection.
    pub collection: Collection,
    /// Its alias.
    pub alias: Option<Name>,
}

/// `JOIN <target> RELATED <source>.<relationship> [<variable>]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Join {
    /// The alias of the joined (target) twins.
    pub target: Name,
    /// The alias of the source twins.
    pub source: Name,
    /// The relationship name followed.
    pub relationship: String,
    /// The alias of the relationships.
    pub variable: Option<Name>,
}

/// A name with where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Name {
    /// The name as written.
    pub text: String,
    /// Where.
    pub pos: Pos,
}

/// A chain of twins joined by relationship conditions: `(a)-[..]->(b)<-[..]-(c)`.
/// `edges[i]` connects `nodes[i]` and `nodes[i + 1]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Pattern {
    /// The twins, left to right; `None` for an anonymous `()`.
    pub nodes: Vec<Option<Name>>,
    /// The relationship conditions between them.
    pub edges: Vec<EdgePattern>,
}

/// Which way a MATCH arrow points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// `-[]->`: from the left twin to the right one.
    Right,
    /// `<-[]-`: from the right twin to the left one.
    Left,
    /// `-[]-`: either way.
    Both,
}

/// One relationship condition of a MATCH.
#[derive(Clone, Debug, PartialEq)]
pub struct EdgePattern {
    /// Which way it points.
    pub direction: Direction,
    /// The relationship variable (`[r]`, `[r:contains]`).
    pub variable: Option<Name>,
    /// The relationship names allowed (`[:a|b]`); empty for any.
    pub names: Vec<String>,
    /// The number of hops (`[*3]`, `[*1..3]`, `[*..2]`); `None` for one hop.
    pub hops: Option<Hops>,
    /// Where the condition starts.
    pub pos: Pos,
}

/// A hop count as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hops {
    /// `*n`: exactly n hops.
    Exact(u64),
    /// `*a..b` (more than a, at most b hops) or `*..b` (1 to b hops).
    Range {
        /// The excluded lower limit.
        after: Option<u64>,
        /// The included upper limit.
        to: u64,
    },
}

/// `ORDER BY` key.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderKey {
    /// The value sorted on.
    pub path: Path,
    /// `DESC`.
    pub descending: bool,
}

/// A dotted path: `T.a.b`, `$dtId`, `T.$metadata.$model`, `T`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Path {
    /// The components; the first may turn out to be a collection alias.
    pub parts: Vec<String>,
    /// Where the path starts.
    pub pos: Pos,
}

/// A value in a condition: a path or a literal.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    /// A property path (or a collection).
    Path(Path),
    /// A JSON literal: string, number, `true`, `false`, `null`.
    Literal(Value),
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `!=`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
}

/// A built-in function (all of them are predicates).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    /// `IS_DEFINED(x)`
    IsDefined,
    /// `IS_NULL(x)`
    IsNull,
    /// `IS_BOOL(x)`
    IsBool,
    /// `IS_NUMBER(x)`
    IsNumber,
    /// `IS_STRING(x)`
    IsString,
    /// `IS_OBJECT(x)`
    IsObject,
    /// `IS_PRIMITIVE(x)`
    IsPrimitive,
    /// `STARTSWITH(s, prefix)`
    StartsWith,
    /// `ENDSWITH(s, suffix)`
    EndsWith,
    /// `CONTAINS(s, part)`
    Contains,
    /// `ARRAY_CONTAINS(array, value)`
    ArrayContains,
}

impl Function {
    /// The function named `name` (any case), with its argument count.
    pub fn named(name: &str) -> Option<(Function, usize)> {
        use Function::*;
        let f = match name.to_ascii_uppercase().as_str() {
            "IS_DEFINED" => (IsDefined, 1),
            "IS_NULL" => (IsNull, 1),
            "IS_BOOL" => (IsBool, 1),
            "IS_NUMBER" => (IsNumber, 1),
            "IS_STRING" => (IsString, 1),
            "IS_OBJECT" => (IsObject, 1),
            "IS_PRIMITIVE" => (IsPrimitive, 1),
            "STARTSWITH" | "STARTS_WITH" => (StartsWith, 2),
            "ENDSWITH" | "ENDS_WITH" => (EndsWith, 2),
            "CONTAINS" => (Contains, 2),
            "ARRAY_CONTAINS" => (ArrayContains, 2),
            _ => return None,
        };
        Some(f)
    }
}

/// A condition.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// All must hold.
    And(Vec<Expr>),
    /// One must hold.
    Or(Vec<Expr>),
    /// `NOT e`.
    Not(Box<Expr>),
    /// `a <op> b`.
    Compare(Operand, CmpOp, Operand),
    /// `a IN [..]` / `a NIN [..]` (`negated`).
    In {
        /// The value tested.
        value: Operand,
        /// The literals it is compared with.
        list: Vec<Value>,
        /// `NIN` / `NOT IN`.
        negated: bool,
    },
    /// A function call.
    Call(Function, Vec<Operand>, Pos),
    /// `IS_OF_MODEL([alias,] 'dtmi' [, exact])`.
    IsOfModel {
        /// The collection tested, when named.
        alias: Option<Name>,
        /// The model id.
        model: String,
        /// `exact`: only this model, no later version, no model that extends it.
        exact: bool,
        /// Where the call is.
        pos: Pos,
    },
    /// A bare operand used as a condition: holds when it is `true`.
    Value(Operand),
}

/// Words that name nothing unless escaped with `[[ ]]`: ADT's reserved keywords.
pub const RESERVED: [&str; 37] = [
    "ALL",
    "AND",
    "AS",
    "ASC",
    "AVG",
    "BY",
    "COUNT",
    "DESC",
    "DEVICES_JOBS",
    "DEVICES_MODULES",
    "DEVICES",
    "ENDS_WITH",
    "FALSE",
    "FROM",
    "GROUP",
    "IN",
    "IS_BOOL",
    "IS_DEFINED",
    "IS_NULL",
    "IS_NUMBER",
    "IS_OBJECT",
    "IS_PRIMITIVE",
    "IS_STRING",
    "MAX",
    "MIN",
    "NOT",
    "NOT_IN",
    "NULL",
    "OR",
    "ORDER",
    "SELECT",
    "STARTS_WITH",
    "SUM",
    "TOP",
    "TRUE",
    "WHERE",
    "IS_OF_MODEL",
];

/// True when `word` is reserved (any case).
pub fn is_reserved(word: &str) -> bool {
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(word))
}
