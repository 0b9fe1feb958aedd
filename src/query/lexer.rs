//! The lexer: query text to tokens, each with the line and column it starts at.
//!
//! The token set is small because the language is. Words are not split into keywords and names
//! here: whether `COUNT` is a keyword or `contains` a relationship name depends on where it stands,
//! so the parser decides, comparing keywords without regard to case. What the lexer does decide:
//!
//! - a *word* is a letter, `_` or `$` followed by letters, digits, `_` or `$` (`$dtId`, `name`);
//! - `[[...]]` is an *escaped* word, whatever it contains (a reserved word such as `[[Group]]`, or
//!   a map key that starts with a digit such as `[[1st]]`); it is never a keyword;
//! - strings are in single (or double) quotes, with `\'`, `\"`, `\\`, `\/`, `\n`, `\r`, `\t` and
//!   `\uXXXX` escapes;
//! - numbers are decimal: `12`, `2.5`, `1e3`; a sign is a separate `-` token, because the same
//!   `-` is also half of a MATCH arrow (`-[...]->`), and `1..3` is `1`, `..`, `3`;
//! - `--` starts a comment that runs to the end of the line.

use crate::err;
use crate::error::{Error, Result};

/// Where a token starts: 1-based line and column (in characters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    /// The line, from 1.
    pub line: u32,
    /// The column, from 1, counted in characters.
    pub column: u32,
}

impl std::fmt::Display for Pos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// A token.
#[derive(Clone, Debug, PartialEq)]
pub enum Token {
    /// A bare word: a keyword or a name, as written.
    Word(String),
    /// A `[[escaped]]` name.
    Escaped(String),
    /// A string literal, unescaped.
    String(String),
    /// A number literal, as written.
    Number(String),
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `[`
    LBracket,
    /// `]`
    RBracket,
    /// `,`
    Comma,
    /// `.`
    Dot,
    /// `..`
    DotDot,
    /// `*`
    Star,
    /// `:`
    Colon,
    /// `|`
    Pipe,
    /// `-`
    Minus,
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
    /// The end of the query.
    Eof,
}

impl Token {
    /// True for a bare word equal to `keyword`, ignoring case.
    pub fn is_keyword(&self, keyword: &str) -> bool {
        matches!(self, Token::Word(w) if w.eq_ignore_ascii_case(keyword))
    }
}

impl std::fmt::Display for Token {
    /// How a token is named in an error message ("found ...").
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Token::Word(w) => write!(f, "'{w}'"),
            Token::Escaped(w) => write!(f, "'[[{w}]]'"),
            Token::String(s) => write!(f, "the string '{}'", shorten(s)),
            Token::Number(n) => write!(f, "the number {n}"),
            Token::LParen => f.write_str("'('"),
            Token::RParen => f.write_str("')'"),
            Token::LBracket => f.write_str("'['"),
            Token::RBracket => f.write_str("']'"),
            Token::Comma => f.write_str("','"),
            Token::Dot => f.write_str("'.'"),
            Token::DotDot => f.write_str("'..'"),
            Token::Star => f.write_str("'*'"),
            Token::Colon => f.write_str("':'"),
            Token::Pipe => f.write_str("'|'"),
            Token::Minus => f.write_str("'-'"),
            Token::Eq => f.write_str("'='"),
            Token::NotEq => f.write_str("'!='"),
            Token::Lt => f.write_str("'<'"),
            Token::LtEq => f.write_str("'<='"),
            Token::Gt => f.write_str("'>'"),
            Token::GtEq => f.write_str("'>='"),
            Token::Eof => f.write_str("the end of the query"),
        }
    }
}

fn shorten(s: &str) -> String {
    if s.chars().count() <= 40 {
        s.to_string()
    } else {
        s.chars().take(40).collect::<String>() + "…"
    }
}

/// A syntax error at `pos`.
pub fn syntax_error(pos: Pos, what: impl std::fmt::Display) -> Error {
    err!(InvalidArgument, "query syntax error at {pos}: {what}")
}

/// Splits query text into tokens; the last one is always [`Token::Eof`].
pub fn tokenize(text: &str) -> Result<Vec<(Token, Pos)>> {
    let mut lexer = Lexer { chars: text.chars().collect(), i: 0, line: 1, column: 1 };
    let mut out = Vec::new();
    loop {
        lexer.skip_space();
        let pos = lexer.pos();
        let Some(c) = lexer.peek(0) else {
            out.push((Token::Eof, pos));
            return Ok(out);
        };
        let token = match c {
            'a'..='z' | 'A'..='Z' | '_' | '$' => Token::Word(lexer.word()),
            '0'..='9' => Token::Number(lexer.number(pos)?),
            '\'' | '"' => Token::String(lexer.string(pos)?),
            '[' if lexer.peek(1) == Some('[') => Token::Escaped(lexer.escaped(pos)?),
            _ => lexer.symbol(pos)?,
        };
        out.push((token, pos));
    }
}

struct Lexer {
    chars: Vec<char>,
    i: usize,
    line: u32,
    column: u32,
}

impl Lexer {
    fn pos(&self) -> Pos {
        Pos { line: self.line, column: self.column }
    }

    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.i + ahead).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek(0)?;
        self.i += 1;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn skip_space(&mut self) {
        loop {
            match self.peek(0) {
                Some(c) if c.is_whitespace() => {
                    self.bump();
                }
                Some('-') if self.peek(1) == Some('-') => {
                    while let Some(c) = self.bump() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                _ => return,
            }
        }
    }

    fn word(&mut self) -> String {
        let mut w = String::new();
        while let Some(c) = self.peek(0) {
            if c.is_ascii_alphanumeric() || c == '_' || c == '$' {
                w.push(c);
                self.bump();
            } else {
                break;
            }
        }
        w
    }

    fn digits(&mut self, into: &mut String) -> usize {
        let mut n = 0;
        while let Some(c @ '0'..='9') = self.peek(0) {
            into.push(c);
            self.bump();
            n += 1;
        }
        n
    }

    fn number(&mut self, pos: Pos) -> Result<String> {
        let mut n = String::new();
        self.digits(&mut n);
        // A '.' is a decimal point only when a digit follows: `1..3` is a range.
        if self.peek(0) == Some('.') && self.peek(1).is_some_and(|c| c.is_ascii_digit()) {
            n.push('.');
            self.bump();
            self.digits(&mut n);
        }
        if matches!(self.peek(0), Some('e' | 'E')) {
            n.push('e');
            self.bump();
            if let Some(sign @ ('+' | '-')) = self.peek(0) {
                n.push(sign);
                self.bump();
            }
            if self.digits(&mut n) == 0 {
                return Err(syntax_error(
                    pos,
                    format!("the number '{n}' has no digits in its exponent"),
                ));
            }
        }
        if let Some(c) = self.peek(0).filter(|c| c.is_ascii_alphabetic() || *c == '_') {
            return Err(syntax_error(
                pos,
                format!(
                    "'{n}{c}…' is not a number; a name cannot start with a digit (escape it as [[{n}{c}…]])"
                ),
            ));
        }
        Ok(n)
    }

    fn string(&mut self, pos: Pos) -> Result<String> {
        let quote = self.bump().unwrap_or('\'');
        let mut s = String::new();
        loop {
            let here = self.pos();
            match self.bump() {
                None => {
                    return Err(syntax_error(
                        pos,
                        format!("the string starting here has no closing {quote}"),
                    ));
                }
                Some(c) if c == quote => return Ok(s),
                Some('\\') => match self.bump() {
                    Some(c @ ('\'' | '"' | '\\' | '/')) => s.push(c),
                    Some('n') => s.push('\n'),
                    Some('r') => s.push('\r'),
                    Some('t') => s.push('\t'),
                    Some('u') => {
                        let hex: String = (0..4).filter_map(|_| self.bump()).collect();
                        let c = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
                        match c {
                            Some(c) if hex.len() == 4 => s.push(c),
                            _ => {
                                return Err(syntax_error(
                                    here,
                                    format!("'\\u{hex}' is not a valid escape"),
                                ));
                            }
                        }
                    }
                    Some(c) => {
                        return Err(syntax_error(
                            here,
                            format!(
                                "'\\{c}' is not a valid escape (use \\' for a quote, \\\\ for a backslash)"
                            ),
                        ));
                    }
                    None => {
                        return Err(syntax_error(
                            pos,
                            format!("the string starting here has no closing {quote}"),
                        ));
                    }
                },
                Some(c) => s.push(c),
            }
        }
    }

    fn escaped(&mut self, pos: Pos) -> Result<String> {
        self.bump();
        self.bump();
        let mut s = String::new();
        loop {
            match self.peek(0) {
                None => {
                    return Err(syntax_error(
                        pos,
                        "the escaped name starting here has no closing ]]",
                    ));
                }
                Some(']') if self.peek(1) == Some(']') => {
                    self.bump();
                    self.bump();
                    break;
                }
                Some(c) => {
                    s.push(c);
                    self.bump();
                }
            }
        }
        if s.is_empty() {
            return Err(syntax_error(pos, "an escaped name [[...]] cannot be empty"));
        }
        Ok(s)
    }

    fn symbol(&mut self, pos: Pos) -> Result<Token> {
        let c = self.bump().unwrap_or_default();
        let next = self.peek(0);
        let two = |lexer: &mut Lexer, t: Token| {
            lexer.bump();
            t
        };
        Ok(match (c, next) {
            ('(', _) => Token::LParen,
            (')', _) => Token::RParen,
            ('[', _) => Token::LBracket,
            (']', _) => Token::RBracket,
            (',', _) => Token::Comma,
            ('.', Some('.')) => two(self, Token::DotDot),
            ('.', _) => Token::Dot,
            ('*', _) => Token::Star,
            (':', _) => Token::Colon,
            ('|', _) => Token::Pipe,
            ('-', _) => Token::Minus,
            ('=', _) => Token::Eq,
            ('!', Some('=')) => two(self, Token::NotEq),
            ('<', Some('=')) => two(self, Token::LtEq),
            ('<', _) => Token::Lt,
            ('>', Some('=')) => two(self, Token::GtEq),
            ('>', _) => Token::Gt,
            _ => return Err(syntax_error(pos, format!("unexpected character '{c}'"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<Token> {
        tokenize(text).unwrap().into_iter().map(|(t, _)| t).collect()
    }

    fn word(w: &str) -> Token {
        Token::Word(w.into())
    }

    #[test]
    fn words_numbers_strings_and_symbols() {
        use Token::*;
        assert_eq!(
            tokens("SELECT T.$dtId FROM x WHERE a.b >= -2.5e3 AND c != 'D\\'Souza'"),
            vec![
                word("SELECT"),
                word("T"),
                Dot,
                word("$dtId"),
                word("FROM"),
                word("x"),
                word("WHERE"),
                word("a"),
                Dot,
                word("b"),
                GtEq,
                Minus,
                Number("2.5e3".into()),
                word("AND"),
                word("c"),
                NotEq,
                String("D'Souza".into()),
                Eof
            ]
        );
    }

    #[test]
    fn match_arrows_and_ranges() {
        use Token::*;
        assert_eq!(
            tokens("(a)<-[r:x|y*1..3]-(b)-[]->(c)"),
            vec![
                LParen,
                word("a"),
                RParen,
                Lt,
                Minus,
                LBracket,
                word("r"),
                Colon,
                word("x"),
                Pipe,
                word("y"),
                Star,
                Number("1".into()),
                DotDot,
                Number("3".into()),
                RBracket,
                Minus,
                LParen,
                word("b"),
                RParen,
                Minus,
                LBracket,
                RBracket,
                Minus,
                Gt,
                LParen,
                word("c"),
                RParen,
                Eof
            ]
        );
        assert_eq!(tokens("*..2"), vec![Star, DotDot, Number("2".into()), Eof]);
    }

    #[test]
    fn escaped_names_and_comments() {
        assert_eq!(
            tokens("[[Group]] = \"x\" -- a comment\n[[1st key]]"),
            vec![
                Token::Escaped("Group".into()),
                Token::Eq,
                Token::String("x".into()),
                Token::Escaped("1st key".into()),
                Token::Eof
            ]
        );
        // A single '[' is a list bracket.
        assert_eq!(tokens("[ ['a']]")[0..2], [Token::LBracket, Token::LBracket]);
    }

    #[test]
    fn positions_count_lines_and_characters() {
        let t = tokenize("SELECT *\n  FROM 'é' DIGITALTWINS").unwrap();
        assert_eq!(t[2].1, Pos { line: 2, column: 3 });
        assert_eq!(t[4].1, Pos { line: 2, column: 12 });
    }

    #[test]
    fn errors_name_the_position() {
        let e = tokenize("SELECT * FROM x WHERE a = 'open").unwrap_err();
        assert_eq!(
            e.to_string(),
            "InvalidArgument: query syntax error at line 1, column 27: the string starting here has no closing '"
        );
        let e = tokenize("a = 'x\\q'").unwrap_err();
        assert!(e.to_string().contains("column 7: '\\q' is not a valid escape"), "{e}");
        let e = tokenize("a # b").unwrap_err();
        assert!(e.to_string().contains("column 3: unexpected character '#'"), "{e}");
        let e = tokenize("T.1abc").unwrap_err();
        assert!(e.to_string().contains("a name cannot start with a digit"), "{e}");
        assert!(tokenize("[[]]").is_err());
        assert!(tokenize("[[abc").is_err());
        assert!(tokenize("'\\u00e9'").is_ok());
        assert_eq!(tokens("'\\u00e9'")[0], Token::String("é".into()));
    }
}
