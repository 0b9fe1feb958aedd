//! The parser: tokens to a [`Query`], by recursive descent (one function per grammar rule).
//!
//! ```text
//! query     := SELECT [TOP '(' int ')'] select FROM from {JOIN join} [MATCH pattern]
//!              [WHERE or] [ORDER BY key {',' key}]
//! select    := '*' | COUNT '(' ')' | item {',' item} | (nothing, after TOP)
//! item      := path [AS name]
//! from      := (DIGITALTWINS | RELATIONSHIPS) [name]
//! join      := name RELATED name '.' name [name]
//! pattern   := node {edge node}
//! node      := '(' [name] ')' | name
//! edge      := '-' '[' cond ']' '-' ['>'] | '<' '-' '[' cond ']' '-'
//! cond      := [name] [':' name {'|' name}] ['*' (int | int '..' int | '..' int)]
//! or        := and {OR and}
//! and       := unary {AND unary}
//! unary     := NOT unary | '(' or ')' | call | operand [cmp operand | [NOT] IN list | NIN list]
//! call      := IS_OF_MODEL '(' [name ','] string [',' EXACT] ')' | function '(' operand, .. ')'
//! operand   := path | string | ['-'] number | TRUE | FALSE | NULL
//! path      := name {'.' name}        (a name after '.' may be a reserved word)
//! ```
//!
//! Keywords are matched without regard to case; names keep theirs. ADT's reserved words
//! ([`super::ast::RESERVED`]) cannot be names unless escaped as `[[word]]`. Every error
//! names the line and column and what was expected there. The parser also enforces the limits that
//! are about the text: its length, the number of AND/OR operators and of IN items, and how deeply
//! conditions nest (so that recursion stays shallow).

use super::ast::*;
use super::lexer::{Pos, Token, syntax_error, tokenize};
use crate::err;
use crate::error::{Error, Result};
use serde_json::Value;

/// The longest query, in characters (ADT's limit).
pub const MAX_QUERY_CHARS: usize = 8000;
/// The most AND and OR operators in one query (ADT's limit).
pub const MAX_AND_OR: usize = 50;
/// The most values in one IN / NIN list (ADT's limit).
pub const MAX_IN_ITEMS: usize = 50;
/// The deepest nesting of parentheses and NOTs in a condition.
pub const MAX_NESTING: usize = 64;

/// Parses a query.
pub fn parse(text: &str) -> Result<Query> {
    let chars = text.chars().count();
    if chars > MAX_QUERY_CHARS {
        return Err(err!(
            LimitExceeded,
            "the query is {chars} characters long; the limit is {MAX_QUERY_CHARS}"
        ));
    }
    let mut p = Parser { tokens: tokenize(text)?, i: 0, and_or: 0, depth: 0 };
    p.query()
}

struct Parser {
    tokens: Vec<(Token, Pos)>,
    i: usize,
    and_or: usize,
    depth: usize,
}

/// Reserved words this grammar uses itself: finding one where a name was expected is a misplaced
/// keyword, not a property someone forgot to escape.
fn is_grammar_word(w: &str) -> bool {
    const WORDS: [&str; 18] = [
        "SELECT",
        "TOP",
        "COUNT",
        "AS",
        "FROM",
        "WHERE",
        "AND",
        "OR",
        "NOT",
        "IN",
        "ORDER",
        "BY",
        "ASC",
        "DESC",
        "TRUE",
        "FALSE",
        "NULL",
        "IS_OF_MODEL",
    ];
    WORDS.iter().any(|k| k.eq_ignore_ascii_case(w))
}

/// Words that end the clause before them, so they are never taken as an alias.
const CLAUSE_WORDS: [&str; 5] = ["JOIN", "MATCH", "WHERE", "ORDER", "RELATED"];

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.i].0
    }

    fn peek_at(&self, ahead: usize) -> &Token {
        let last = self.tokens.len() - 1;
        &self.tokens[(self.i + ahead).min(last)].0
    }

    fn pos(&self) -> Pos {
        self.tokens[self.i].1
    }

    fn next(&mut self) -> Token {
        let t = self.tokens[self.i].0.clone();
        if self.i + 1 < self.tokens.len() {
            self.i += 1;
        }
        t
    }

    /// The error "expected `what`, found <the current token>".
    fn expected(&self, what: &str) -> Error {
        let found = self.peek();
        let hint = match found {
            Token::Word(w) if is_reserved(w) && !is_grammar_word(w) && what.contains("name") => {
                format!(" ('{w}' is a reserved word; escape it as [[{w}]])")
            }
            _ => String::new(),
        };
        syntax_error(self.pos(), format!("expected {what}, found {found}{hint}"))
    }

    fn eat(&mut self, t: &Token) -> bool {
        if self.peek() == t {
            self.next();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, t: Token) -> Result<()> {
        if self.eat(&t) { Ok(()) } else { Err(self.expected(&t.to_string())) }
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        if self.peek().is_keyword(keyword) {
            self.next();
            true
        } else {
            false
        }
    }

    fn expect_keyword(&mut self, keyword: &str) -> Result<()> {
        if self.eat_keyword(keyword) { Ok(()) } else { Err(self.expected(keyword)) }
    }

    // --- clauses -------------------------------------------------------------------------------

    fn query(&mut self) -> Result<Query> {
        self.expect_keyword("SELECT")?;
        let top = if self.eat_keyword("TOP") { Some(self.top()?) } else { None };
        let select = self.select(top.is_some())?;
        self.expect_keyword("FROM")?;
        let from = self.from()?;
        let mut joins = Vec::new();
        while self.eat_keyword("JOIN") {
            joins.push(self.join()?);
        }
        let mut pattern = None;
        if self.eat_keyword("MATCH") {
            pattern = Some(self.pattern()?);
        }
        let mut filter = None;
        if self.eat_keyword("WHERE") {
            filter = Some(self.or()?);
        }
        let mut order = Vec::new();
        if self.eat_keyword("ORDER") {
            self.expect_keyword("BY")?;
            loop {
                let path = self.path()?;
                let descending = if self.eat_keyword("DESC") {
                    true
                } else {
                    self.eat_keyword("ASC");
                    false
                };
                order.push(OrderKey { path, descending });
                if !self.eat(&Token::Comma) {
                    break;
                }
            }
        }
        if *self.peek() != Token::Eof {
            let what = if !order.is_empty() {
                "',' or the end of the query"
            } else if filter.is_some() {
                "AND, OR, ORDER BY or the end of the query"
            } else if pattern.is_some() {
                "WHERE, ORDER BY or the end of the query"
            } else {
                "JOIN, MATCH, WHERE, ORDER BY or the end of the query"
            };
            return Err(self.expected(what));
        }
        Ok(Query { top, select, from, joins, pattern, filter, order })
    }

    fn top(&mut self) -> Result<u64> {
        self.expect(Token::LParen)?;
        let n = match self.peek() {
            Token::Number(n) => n.parse::<u64>().ok().filter(|n| *n > 0),
            _ => None,
        };
        let Some(n) = n else {
            return Err(self.expected("a positive whole number (TOP(n))"));
        };
        self.next();
        self.expect(Token::RParen)?;
        Ok(n)
    }

    fn select(&mut self, after_top: bool) -> Result<Select> {
        if self.eat(&Token::Star) {
            return Ok(Select::All);
        }
        if after_top && self.peek().is_keyword("FROM") {
            return Ok(Select::All);
        }
        if self.peek().is_keyword("COUNT") {
            self.next();
            self.expect(Token::LParen)?;
            self.expect(Token::RParen)?;
            return Ok(Select::Count);
        }
        let mut items = Vec::new();
        loop {
            if !self.starts_name() {
                return Err(
                    self.expected("'*', COUNT() or a collection or property name to return")
                );
            }
            let path = self.path()?;
            let alias =
                if self.eat_keyword("AS") { Some(self.name("a name after AS")?) } else { None };
            items.push(SelectItem { path, alias });
            if !self.eat(&Token::Comma) {
                return Ok(Select::Items(items));
            }
        }
    }

    fn from(&mut self) -> Result<From> {
        let collection = if self.eat_keyword("DIGITALTWINS") {
            Collection::Twins
        } else if self.eat_keyword("RELATIONSHIPS") {
            Collection::Relationships
        } else {
            return Err(self.expected("DIGITALTWINS or RELATIONSHIPS"));
        };
        Ok(From { collection, alias: self.optional_alias() })
    }

    /// An alias after FROM or JOIN: a name that is not the next clause's keyword.
    fn optional_alias(&mut self) -> Option<Name> {
        match self.peek() {
            Token::Word(w)
                if !is_reserved(w) && !CLAUSE_WORDS.iter().any(|c| c.eq_ignore_ascii_case(w)) =>
            {
                let pos = self.pos();
                let text = w.clone();
                self.next();
                Some(Name { text, pos })
            }
            Token::Escaped(w) => {
                let pos = self.pos();
                let text = w.clone();
                self.next();
                Some(Name { text, pos })
            }
            _ => None,
        }
    }

    fn join(&mut self) -> Result<Join> {
        let target = self.name("the name of the joined twins")?;
        self.expect_keyword("RELATED")?;
        let source = self.name("the name of the source twins")?;
        self.expect(Token::Dot)?;
        let relationship = self.name_after_dot("a relationship name")?;
        let variable = self.optional_alias();
        Ok(Join { target, source, relationship, variable })
    }

    fn pattern(&mut self) -> Result<Pattern> {
        let mut nodes = vec![self.node()?];
        let mut edges = Vec::new();
        while matches!(self.peek(), Token::Minus | Token::Lt) {
            edges.push(self.edge()?);
            nodes.push(self.node()?);
        }
        Ok(Pattern { nodes, edges })
    }

    fn node(&mut self) -> Result<Option<Name>> {
        if self.eat(&Token::LParen) {
            if self.eat(&Token::RParen) {
                return Ok(None);
            }
            let name = self.name("a twin name or ')'")?;
            self.expect(Token::RParen)?;
            return Ok(Some(name));
        }
        if self.starts_name() {
            return Ok(Some(self.name("a twin")?));
        }
        Err(self.expected("a twin such as (name) or ()"))
    }

    fn edge(&mut self) -> Result<EdgePattern> {
        let pos = self.pos();
        let left = self.eat(&Token::Lt);
        self.expect(Token::Minus)?;
        if *self.peek() != Token::LBracket {
            return Err(self.expected("'[' (a relationship condition such as -[:contains]->)"));
        }
        self.next();
        let mut edge = self.condition(pos)?;
        self.expect(Token::Minus)?;
        let right = self.eat(&Token::Gt);
        edge.direction = match (left, right) {
            (true, true) => {
                return Err(syntax_error(
                    pos,
                    "a relationship condition cannot point both ways (<-[]->); chain two conditions instead",
                ));
            }
            (true, false) => Direction::Left,
            (false, true) => Direction::Right,
            (false, false) => Direction::Both,
        };
        Ok(edge)
    }

    /// Inside `[...]`, up to and including `]`.
    fn condition(&mut self, pos: Pos) -> Result<EdgePattern> {
        let variable =
            if self.starts_name() { Some(self.name("a relationship variable")?) } else { None };
        let mut names = Vec::new();
        if self.eat(&Token::Colon) {
            loop {
                names.push(self.name_after_dot("a relationship name")?);
                if !self.eat(&Token::Pipe) {
                    break;
                }
            }
        }
        let hops = if self.eat(&Token::Star) { Some(self.hops()?) } else { None };
        if !self.eat(&Token::RBracket) {
            let what = match (names.is_empty(), hops.is_none()) {
                (_, false) => "']'",
                (false, true) => "'|', '*' or ']'",
                (true, true) => "':', '*' or ']'",
            };
            return Err(self.expected(what));
        }
        Ok(EdgePattern { direction: Direction::Both, variable, names, hops, pos })
    }

    fn hops(&mut self) -> Result<Hops> {
        let count = |p: &mut Parser| -> Result<u64> {
            let Token::Number(n) = p.peek().clone() else {
                return Err(p.expected("a hop count such as *3, *1..3 or *..2"));
            };
            let pos = p.pos();
            p.next();
            n.parse::<u64>()
                .map_err(|_| syntax_error(pos, format!("a hop count is a whole number, found {n}")))
        };
        if self.eat(&Token::DotDot) {
            return Ok(Hops::Range { after: None, to: count(self)? });
        }
        let n = count(self)?;
        if self.eat(&Token::DotDot) {
            return Ok(Hops::Range { after: Some(n), to: count(self)? });
        }
        Ok(Hops::Exact(n))
    }

    // --- conditions ----------------------------------------------------------------------------

    fn count_and_or(&mut self) -> Result<()> {
        self.and_or += 1;
        if self.and_or > MAX_AND_OR {
            return Err(err!(
                LimitExceeded,
                "the query has more than {MAX_AND_OR} AND/OR operators (the limit), at {}",
                self.tokens[self.i.saturating_sub(1)].1
            ));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr> {
        let mut terms = vec![self.and()?];
        while self.eat_keyword("OR") {
            self.count_and_or()?;
            terms.push(self.and()?);
        }
        Ok(if terms.len() == 1 { terms.remove(0) } else { Expr::Or(terms) })
    }

    fn and(&mut self) -> Result<Expr> {
        let mut terms = vec![self.unary()?];
        while self.eat_keyword("AND") {
            self.count_and_or()?;
            terms.push(self.unary()?);
        }
        Ok(if terms.len() == 1 { terms.remove(0) } else { Expr::And(terms) })
    }

    fn nested<T>(&mut self, f: impl FnOnce(&mut Parser) -> Result<T>) -> Result<T> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(syntax_error(
                self.pos(),
                format!("conditions nest more than {MAX_NESTING} levels deep"),
            ));
        }
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn unary(&mut self) -> Result<Expr> {
        if self.eat_keyword("NOT") {
            return self.nested(|p| Ok(Expr::Not(Box::new(p.unary()?))));
        }
        if self.eat(&Token::LParen) {
            let e = self.nested(|p| p.or())?;
            self.expect(Token::RParen)?;
            return Ok(e);
        }
        if let (Token::Word(w), Token::LParen) = (self.peek(), self.peek_at(1)) {
            let w = w.clone();
            return self.call(&w);
        }
        let left = self.operand()?;
        let op = match self.peek() {
            Token::Eq => CmpOp::Eq,
            Token::NotEq => CmpOp::NotEq,
            Token::Lt => CmpOp::Lt,
            Token::LtEq => CmpOp::LtEq,
            Token::Gt => CmpOp::Gt,
            Token::GtEq => CmpOp::GtEq,
            t if t.is_keyword("IN") || t.is_keyword("NIN") || t.is_keyword("NOT") => {
                let negated = if self.eat_keyword("NOT") {
                    if !self.peek().is_keyword("IN") {
                        return Err(self.expected("IN after NOT"));
                    }
                    true
                } else {
                    self.peek().is_keyword("NIN")
                };
                self.next();
                let list = self.list()?;
                return Ok(Expr::In { value: left, list, negated });
            }
            _ => return Ok(Expr::Value(left)),
        };
        self.next();
        let right = self.operand()?;
        Ok(Expr::Compare(left, op, right))
    }

    fn list(&mut self) -> Result<Vec<Value>> {
        if *self.peek() != Token::LBracket {
            return Err(self.expected("'[' (a list such as ['a', 'b'])"));
        }
        let start = self.pos();
        self.next();
        let mut items = Vec::new();
        if self.eat(&Token::RBracket) {
            return Ok(items);
        }
        loop {
            match self.operand()? {
                Operand::Literal(v) => items.push(v),
                Operand::Path(p) => {
                    return Err(syntax_error(
                        p.pos,
                        "an IN list holds values (strings, numbers, true, false, null), not names",
                    ));
                }
            }
            if items.len() > MAX_IN_ITEMS {
                return Err(err!(
                    LimitExceeded,
                    "the IN list at {start} has more than {MAX_IN_ITEMS} values (the limit)"
                ));
            }
            if self.eat(&Token::RBracket) {
                return Ok(items);
            }
            if !self.eat(&Token::Comma) {
                return Err(self.expected("',' or ']'"));
            }
        }
    }

    fn call(&mut self, name: &str) -> Result<Expr> {
        let pos = self.pos();
        if name.eq_ignore_ascii_case("IS_OF_MODEL") {
            self.next();
            self.next();
            let alias = if self.starts_name() {
                let a = self.name("a collection name")?;
                self.expect(Token::Comma)?;
                Some(a)
            } else {
                None
            };
            let Token::String(model) = self.peek().clone() else {
                return Err(self.expected("a model id in quotes, such as 'dtmi:example:Room;1'"));
            };
            self.next();
            let mut exact = false;
            if self.eat(&Token::Comma) {
                if !self.eat_keyword("EXACT") {
                    return Err(self.expected("exact"));
                }
                exact = true;
            }
            self.expect(Token::RParen)?;
            return Ok(Expr::IsOfModel { alias, model, exact, pos });
        }
        let Some((function, arity)) = Function::named(name) else {
            return Err(syntax_error(
                pos,
                format!(
                    "unknown function '{name}'; the functions are IS_OF_MODEL, IS_DEFINED, IS_NULL, IS_BOOL, \
                     IS_NUMBER, IS_STRING, IS_OBJECT, IS_PRIMITIVE, STARTSWITH, ENDSWITH, CONTAINS and ARRAY_CONTAINS"
                ),
            ));
        };
        self.next();
        self.next();
        let mut args = Vec::new();
        while args.len() < arity {
            if !args.is_empty() {
                self.expect(Token::Comma)?;
            }
            args.push(self.operand()?);
        }
        if *self.peek() != Token::RParen {
            let what = format!(
                "')' ({} takes {arity} argument{})",
                name.to_uppercase(),
                if arity == 1 { "" } else { "s" }
            );
            return Err(self.expected(&what));
        }
        self.next();
        Ok(Expr::Call(function, args, pos))
    }

    // --- operands and names --------------------------------------------------------------------

    fn operand(&mut self) -> Result<Operand> {
        let pos = self.pos();
        let literal = match self.peek().clone() {
            Token::String(s) => Value::String(s),
            Token::Number(n) => number(&n, false, pos)?,
            Token::Minus => {
                self.next();
                match self.peek().clone() {
                    Token::Number(n) => number(&n, true, pos)?,
                    _ => return Err(self.expected("a number after '-'")),
                }
            }
            t if t.is_keyword("TRUE") => Value::Bool(true),
            t if t.is_keyword("FALSE") => Value::Bool(false),
            t if t.is_keyword("NULL") => Value::Null,
            _ if self.starts_name() => return Ok(Operand::Path(self.path()?)),
            _ => return Err(self.expected("a property name or a value")),
        };
        self.next();
        Ok(Operand::Literal(literal))
    }

    /// True when the current token can start a name.
    fn starts_name(&self) -> bool {
        match self.peek() {
            Token::Word(w) => !is_reserved(w),
            Token::Escaped(_) => true,
            _ => false,
        }
    }

    /// A name that is not a reserved word (unless escaped).
    fn name(&mut self, what: &str) -> Result<Name> {
        let pos = self.pos();
        match self.peek() {
            Token::Word(w) if !is_reserved(w) => {}
            Token::Escaped(_) => {}
            _ => return Err(self.expected(what)),
        }
        match self.next() {
            Token::Word(text) | Token::Escaped(text) => Ok(Name { text, pos }),
            _ => unreachable!("checked above"),
        }
    }

    /// A name after '.', ':' or '|', where reserved words are names too (`T.count`).
    fn name_after_dot(&mut self, what: &str) -> Result<String> {
        match self.peek() {
            Token::Word(_) | Token::Escaped(_) => match self.next() {
                Token::Word(w) | Token::Escaped(w) => Ok(w),
                _ => unreachable!("checked above"),
            },
            _ => Err(self.expected(what)),
        }
    }

    fn path(&mut self) -> Result<Path> {
        let first = self.name("a collection or property name")?;
        let mut parts = vec![first.text];
        while self.eat(&Token::Dot) {
            parts.push(self.name_after_dot("a property name after '.'")?);
        }
        Ok(Path { parts, pos: first.pos })
    }
}

/// A JSON number from its text: an integer when it is one, else a float.
fn number(text: &str, negative: bool, pos: Pos) -> Result<Value> {
    let signed = if negative { format!("-{text}") } else { text.to_string() };
    if let Ok(i) = signed.parse::<i64>() {
        return Ok(Value::from(i));
    }
    if let Ok(u) = signed.parse::<u64>() {
        return Ok(Value::from(u));
    }
    match signed.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(Value::from(f)),
        _ => Err(syntax_error(pos, format!("{signed} is not a number a query can use"))),
    }
}

#[cfg(test)]
#[path = "parser_tests.rs"]
mod tests;
