//! `$filter` tokenizer and recursive-descent parser. Precedence: `not` binds tightest, then
//! comparisons, then `and`, then `or`; parentheses group. Column names are resolved and
//! literals are type-checked and converted to comparison keys ([`Cmp`]) at parse time, so
//! evaluating a row ([`crate::odata::eval`]) does no parsing.
//!
//! Conditions are counted for the 500-condition limit: each comparison, string function and
//! null test counts one; `In`/`NotIn` count one per value; `Between` counts two.

use std::cmp::Ordering;
use std::collections::HashMap;

use crate::collation::{fold, Collation};
use crate::odata::like::LikePattern;
use crate::response::ApiError;
use crate::store::TableDef;
use crate::types::{guid_sort_key, parse_datetime, parse_guid, AttrType, Dec, Family};

/// Most conditions a query may have.
pub(crate) const MAX_CONDITIONS: usize = 500;

/// A comparison key: strings are folded by the collation, numbers are exact decimals,
/// date-times are canonical UTC text and GUIDs their SQL Server sort key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cmp {
    Str(String),
    Num(Dec),
    Bool(bool),
    Text(String),
}

impl Cmp {
    /// Orders two keys of the same kind; `None` for mismatched kinds.
    pub(crate) fn compare(&self, other: &Cmp) -> Option<Ordering> {
        match (self, other) {
            (Cmp::Str(a), Cmp::Str(b)) | (Cmp::Text(a), Cmp::Text(b)) => Some(a.cmp(b)),
            (Cmp::Num(a), Cmp::Num(b)) => Some(a.cmp(b)),
            (Cmp::Bool(a), Cmp::Bool(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }
}

/// The comparison key of a stored cell.
pub(crate) fn cell_key(ty: AttrType, text: &str, collation: Collation) -> Option<Cmp> {
    match ty.family() {
        Family::Text => Some(Cmp::Str(fold(text, collation, true))),
        Family::Number => Dec::parse(text).map(Cmp::Num),
        Family::Bool => Some(Cmp::Bool(text == "true")),
        Family::DateTime => Some(Cmp::Text(text.to_owned())),
        Family::Guid => Some(Cmp::Text(guid_sort_key(text))),
        Family::Json => None,
    }
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CmpOp {
    fn from_word(word: &str) -> Option<CmpOp> {
        Some(match word {
            "eq" => CmpOp::Eq,
            "ne" => CmpOp::Ne,
            "gt" => CmpOp::Gt,
            "ge" => CmpOp::Ge,
            "lt" => CmpOp::Lt,
            "le" => CmpOp::Le,
            _ => return None,
        })
    }

    /// The operator seen from the other side (`5 lt x` is `x gt 5`).
    fn flipped(self) -> CmpOp {
        match self {
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            other => other,
        }
    }

    pub(crate) fn test(self, ordering: Ordering) -> bool {
        match self {
            CmpOp::Eq => ordering == Ordering::Equal,
            CmpOp::Ne => ordering != Ordering::Equal,
            CmpOp::Gt => ordering == Ordering::Greater,
            CmpOp::Ge => ordering != Ordering::Less,
            CmpOp::Lt => ordering == Ordering::Less,
            CmpOp::Le => ordering != Ordering::Greater,
        }
    }

    fn kind_name(self) -> &'static str {
        match self {
            CmpOp::Eq => "Equal",
            CmpOp::Ne => "NotEqual",
            CmpOp::Gt => "GreaterThan",
            CmpOp::Ge => "GreaterThanOrEqual",
            CmpOp::Lt => "LessThan",
            CmpOp::Le => "LessThanOrEqual",
        }
    }
}

/// Right-hand side of a comparison.
#[derive(Debug, Clone)]
pub(crate) enum Side {
    Column(usize),
    Value(Cmp),
}

/// A parsed filter. Evaluation follows SQL's three-valued logic (see [`crate::odata::eval`]).
#[derive(Debug, Clone)]
pub(crate) enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    /// Constant truth value (`None` = unknown, e.g. `x gt null`).
    Const(Option<bool>),
    IsNull {
        col: usize,
        negated: bool,
    },
    Compare {
        op: CmpOp,
        col: usize,
        ty: AttrType,
        right: Side,
    },
    Like {
        col: usize,
        pattern: LikePattern,
    },
    In {
        col: usize,
        ty: AttrType,
        values: Vec<Cmp>,
        negated: bool,
    },
}

/// A compiled `$filter`, with the collation its string keys were folded with.
#[derive(Debug, Clone)]
pub(crate) struct Filter {
    pub expr: Expr,
    pub collation: Collation,
}

/// Parses and compiles `$filter` text against a table.
pub(crate) fn parse_filter(
    text: &str,
    def: &TableDef,
    aliases: &HashMap<String, String>,
    collation: Collation,
) -> Result<Filter, ApiError> {
    let tokens = lex(text)?;
    let mut parser = Parser {
        tokens,
        pos: 0,
        text,
        def,
        aliases,
        collation,
        conditions: 0,
    };
    let expr = parser.parse_or()?;
    if parser.pos < parser.tokens.len() {
        return Err(parser.syntax_error());
    }
    if parser.conditions > MAX_CONDITIONS {
        return Err(ApiError::new(
            400,
            "0x8004430C",
            "Number of conditions in query exceeded maximum limit.",
        ));
    }
    Ok(Filter { expr, collation })
}

// ---------------------------------------------------------------------------------------------
// Tokenizer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(String),
    Guid(String),
    Date(String),
    /// `Namespace.Type'Value'`
    Enum(String, String),
    Alias(String),
    /// A JSON array, raw text.
    Json(String),
    LParen,
    RParen,
    Comma,
    Assign,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    pos: usize,
}

fn syntax_error(pos: usize, text: &str) -> ApiError {
    ApiError::bad_request(format!("Syntax error at position {pos} in '{text}'."))
}

fn lex(text: &str) -> Result<Vec<Token>, ApiError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        let tok = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '(' => {
                i += 1;
                Tok::LParen
            }
            ')' => {
                i += 1;
                Tok::RParen
            }
            ',' => {
                i += 1;
                Tok::Comma
            }
            '=' => {
                i += 1;
                Tok::Assign
            }
            '\'' => {
                let (value, end) = lex_string(&chars, i, text)?;
                i = end;
                Tok::Str(value)
            }
            '[' => {
                let end = json_array_end(&chars, i).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "Invalid JSON. An unexpected end of input was found in '{text}'."
                    ))
                })?;
                let raw: String = chars[i..end].iter().collect();
                i = end;
                Tok::Json(raw)
            }
            '@' => {
                i += 1;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                Tok::Alias(chars[start..i].iter().collect())
            }
            c if c.is_ascii_hexdigit() && guid_at(&chars, i) => {
                i += 36;
                Tok::Guid(
                    chars[start..i]
                        .iter()
                        .collect::<String>()
                        .to_ascii_lowercase(),
                )
            }
            c if c.is_ascii_digit() && date_at(&chars, i) => {
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric()
                        || matches!(chars[i], ':' | '.' | '+' | '-'))
                {
                    i += 1;
                }
                let raw: String = chars[start..i].iter().collect();
                Tok::Date(parse_datetime(&raw).ok_or_else(|| syntax_error(start, text))?)
            }
            c if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_digit()
                        || chars[i] == '.'
                        || matches!(chars[i], 'e' | 'E')
                        || (matches!(chars[i], '+' | '-') && matches!(chars[i - 1], 'e' | 'E')))
                {
                    i += 1;
                }
                let raw: String = chars[start..i].iter().collect();
                // OData type suffixes (1.5m, 10L, 2.0d, 1f).
                if i < chars.len()
                    && matches!(chars[i], 'm' | 'M' | 'l' | 'L' | 'd' | 'D' | 'f' | 'F')
                {
                    i += 1;
                }
                Tok::Num(
                    crate::types::normalize_number(&raw)
                        .ok_or_else(|| syntax_error(start, text))?,
                )
            }
            c if c.is_alphabetic() || c == '_' => {
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '.' | '/'))
                {
                    i += 1;
                }
                let ident: String = chars[start..i].iter().collect();
                if i < chars.len() && chars[i] == '\'' {
                    let (value, end) = lex_string(&chars, i, text)?;
                    i = end;
                    if matches!(
                        ident.as_str(),
                        "guid" | "datetime" | "datetimeoffset" | "binary" | "X" | "time"
                    ) {
                        return Err(ApiError::bad_request(format!(
                            "Unrecognized 'Edm.String' literal '{ident}'{value}'' at '{start}' in '{text}'."
                        )));
                    }
                    Tok::Enum(ident, value)
                } else {
                    Tok::Ident(ident)
                }
            }
            _ => {
                return Err(ApiError::bad_request(format!(
                    "Syntax error: character '{c}' is not valid at position {i} in '{text}'."
                )))
            }
        };
        tokens.push(Token { tok, pos: start });
    }
    Ok(tokens)
}

/// A `'…'` literal starting at `start` (`''` is an escaped quote). Returns the value and the
/// index after the closing quote.
fn lex_string(chars: &[char], start: usize, text: &str) -> Result<(String, usize), ApiError> {
    let mut value = String::new();
    let mut i = start + 1;
    loop {
        match chars.get(i) {
            None => {
                // Like the OData lexer: the position reported is where scanning stopped.
                return Err(ApiError::bad_request(format!(
                    "There is an unterminated literal at position {} in '{text}'.",
                    chars.len()
                )));
            }
            Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                value.push('\'');
                i += 2;
            }
            Some('\'') => return Ok((value, i + 1)),
            Some(c) => {
                value.push(*c);
                i += 1;
            }
        }
    }
}

fn json_array_end(chars: &[char], start: usize) -> Option<usize> {
    let mut depth = 0;
    let mut i = start;
    let mut in_string = false;
    while i < chars.len() {
        let c = chars[i];
        if in_string {
            match c {
                '\\' => i += 1,
                '"' => in_string = false,
                _ => {}
            }
        } else {
            match c {
                '"' => in_string = true,
                '[' => depth += 1,
                ']' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(i + 1);
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    None
}

fn guid_at(chars: &[char], i: usize) -> bool {
    if i + 36 > chars.len() {
        return false;
    }
    let candidate: String = chars[i..i + 36].iter().collect();
    crate::types::is_guid(&candidate)
        && !chars
            .get(i + 36)
            .is_some_and(|c| c.is_alphanumeric() || *c == '_')
}

fn date_at(chars: &[char], i: usize) -> bool {
    i + 10 <= chars.len()
        && chars[i..i + 4].iter().all(char::is_ascii_digit)
        && chars[i + 4] == '-'
        && chars[i + 5..i + 7].iter().all(char::is_ascii_digit)
        && chars[i + 7] == '-'
}

// ---------------------------------------------------------------------------------------------
// Parser

#[derive(Debug, Clone)]
enum Lit {
    Null,
    Str(String),
    Num(String),
    Bool(bool),
    Guid(String),
    Date(String),
}

impl Lit {
    fn edm(&self) -> &'static str {
        match self {
            Lit::Null => "Edm.Null",
            Lit::Str(_) => "Edm.String",
            Lit::Num(n) if n.contains(['.', 'e', 'E']) => "Edm.Decimal",
            Lit::Num(n) if n.parse::<i32>().is_ok() => "Edm.Int32",
            Lit::Num(_) => "Edm.Int64",
            Lit::Bool(_) => "Edm.Boolean",
            Lit::Guid(_) => "Edm.Guid",
            Lit::Date(_) => "Edm.DateTimeOffset",
        }
    }
}

enum Operand {
    Column(usize),
    Lit(Lit),
}

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    text: &'a str,
    def: &'a TableDef,
    aliases: &'a HashMap<String, String>,
    collation: Collation,
    conditions: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|t| &t.tok)
    }

    fn peek_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(w)) if w == word)
    }

    fn current_pos(&self) -> usize {
        self.tokens
            .get(self.pos)
            .map(|t| t.pos)
            .unwrap_or(self.text.chars().count())
    }

    fn syntax_error(&self) -> ApiError {
        syntax_error(self.current_pos(), self.text)
    }

    fn expect(&mut self, tok: Tok) -> Result<(), ApiError> {
        if self.peek() == Some(&tok) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.syntax_error())
        }
    }

    fn parse_or(&mut self) -> Result<Expr, ApiError> {
        let mut left = self.parse_and()?;
        while self.peek_word("or") {
            self.pos += 1;
            let right = self.parse_and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_and(&mut self) -> Result<Expr, ApiError> {
        let mut left = self.parse_unary()?;
        while self.peek_word("and") {
            self.pos += 1;
            let right = self.parse_unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_unary(&mut self) -> Result<Expr, ApiError> {
        if self.peek_word("not") {
            self.pos += 1;
            let inner = self.parse_unary()?;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.parse_primary()
    }

    fn parse_primary(&mut self) -> Result<Expr, ApiError> {
        match self.peek() {
            Some(Tok::LParen) => {
                self.pos += 1;
                let inner = self.parse_or()?;
                self.expect(Tok::RParen)?;
                Ok(inner)
            }
            Some(Tok::Ident(name))
                if self.tokens.get(self.pos + 1).map(|t| &t.tok) == Some(&Tok::LParen)
                    && !matches!(name.as_str(), "not" | "and" | "or") =>
            {
                let name = name.clone();
                self.pos += 2;
                let expr = self.parse_function(&name)?;
                self.parse_bool_suffix(expr)
            }
            None => Err(self.syntax_error()),
            _ => self.parse_comparison(),
        }
    }

    /// `contains(…) eq true` and friends.
    fn parse_bool_suffix(&mut self, expr: Expr) -> Result<Expr, ApiError> {
        let op = match self.peek() {
            Some(Tok::Ident(w)) => match CmpOp::from_word(w) {
                Some(op @ (CmpOp::Eq | CmpOp::Ne)) => op,
                _ => return Ok(expr),
            },
            _ => return Ok(expr),
        };
        self.pos += 1;
        let value = match self.peek() {
            Some(Tok::Ident(w)) if w == "true" => true,
            Some(Tok::Ident(w)) if w == "false" => false,
            _ => return Err(self.syntax_error()),
        };
        self.pos += 1;
        Ok(if value == (op == CmpOp::Eq) {
            expr
        } else {
            Expr::Not(Box::new(expr))
        })
    }

    fn parse_comparison(&mut self) -> Result<Expr, ApiError> {
        let left = self.parse_operand()?;
        let op = match self.peek() {
            Some(Tok::Ident(w)) if w == "in" => {
                return Err(ApiError::new(
                    501,
                    "0x80060888",
                    "The method or operation is not implemented.",
                ))
            }
            Some(Tok::Ident(w)) => match CmpOp::from_word(w) {
                Some(op) => op,
                None => return Err(self.syntax_error()),
            },
            _ => {
                // A bare Boolean column is a condition of its own.
                if let Operand::Column(col) = left {
                    if self.def.columns[col].ty == AttrType::Boolean {
                        self.conditions += 1;
                        return Ok(Expr::Compare {
                            op: CmpOp::Eq,
                            col,
                            ty: AttrType::Boolean,
                            right: Side::Value(Cmp::Bool(true)),
                        });
                    }
                }
                return Err(self.syntax_error());
            }
        };
        self.pos += 1;
        let right = self.parse_operand()?;
        self.conditions += 1;
        self.build_comparison(op, left, right)
    }

    fn build_comparison(&self, op: CmpOp, left: Operand, right: Operand) -> Result<Expr, ApiError> {
        match (left, right) {
            (Operand::Column(col), Operand::Lit(lit)) => self.compare_literal(op, col, lit),
            (Operand::Lit(lit), Operand::Column(col)) => {
                self.compare_literal(op.flipped(), col, lit)
            }
            (Operand::Column(a), Operand::Column(b)) => {
                let (ta, tb) = (self.def.columns[a].ty, self.def.columns[b].ty);
                if ta.family() != tb.family() || ta.family() == Family::Json {
                    return Err(incompatible(ta.edm(), tb.edm(), op));
                }
                Ok(Expr::Compare {
                    op,
                    col: a,
                    ty: ta,
                    right: Side::Column(b),
                })
            }
            (Operand::Lit(_), Operand::Lit(_)) => Err(ApiError::bad_request(format!(
                "Comparing two literals is not supported in '{}'.",
                self.text
            ))),
        }
    }

    fn compare_literal(&self, op: CmpOp, col: usize, lit: Lit) -> Result<Expr, ApiError> {
        let ty = self.def.columns[col].ty;
        if let Lit::Null = lit {
            return Ok(match op {
                CmpOp::Eq => Expr::IsNull {
                    col,
                    negated: false,
                },
                CmpOp::Ne => Expr::IsNull { col, negated: true },
                _ => Expr::Const(None),
            });
        }
        let key = literal_key(ty, &lit, self.collation)
            .ok_or_else(|| incompatible(ty.edm(), lit.edm(), op))?;
        Ok(Expr::Compare {
            op,
            col,
            ty,
            right: Side::Value(key),
        })
    }

    fn parse_operand(&mut self) -> Result<Operand, ApiError> {
        let token = self
            .tokens
            .get(self.pos)
            .cloned()
            .ok_or_else(|| self.syntax_error())?;
        self.pos += 1;
        Ok(match token.tok {
            Tok::Ident(word) => match word.as_str() {
                "null" => Operand::Lit(Lit::Null),
                "true" => Operand::Lit(Lit::Bool(true)),
                "false" => Operand::Lit(Lit::Bool(false)),
                _ => Operand::Column(self.column(&word)?),
            },
            Tok::Alias(alias) => Operand::Lit(self.alias_literal(&alias)?),
            tok => Operand::Lit(self.token_literal(tok, token.pos)?),
        })
    }

    fn token_literal(&self, tok: Tok, pos: usize) -> Result<Lit, ApiError> {
        Ok(match tok {
            Tok::Str(s) | Tok::Enum(_, s) => Lit::Str(s),
            Tok::Num(n) => Lit::Num(n),
            Tok::Guid(g) => Lit::Guid(g),
            Tok::Date(d) => Lit::Date(d),
            _ => return Err(syntax_error(pos, self.text)),
        })
    }

    /// An alias's value is itself a literal; an alias given no value counts as null.
    fn alias_literal(&self, alias: &str) -> Result<Lit, ApiError> {
        let Some(value) = self.aliases.get(alias) else {
            return Ok(Lit::Null);
        };
        let tokens = lex(value)?;
        match tokens.as_slice() {
            [Token {
                tok: Tok::Ident(w), ..
            }] if w == "null" => Ok(Lit::Null),
            [Token {
                tok: Tok::Ident(w), ..
            }] if w == "true" || w == "false" => Ok(Lit::Bool(w == "true")),
            [token] => self.token_literal(token.tok.clone(), token.pos),
            _ => Err(ApiError::bad_request(format!(
                "The parameter alias {alias} has an invalid value '{value}'."
            ))),
        }
    }

    fn column(&self, name: &str) -> Result<usize, ApiError> {
        self.def
            .column(name)
            .map(|(i, _)| i)
            .ok_or_else(|| ApiError::unknown_property(&self.def.type_name(), name))
    }

    fn parse_function(&mut self, name: &str) -> Result<Expr, ApiError> {
        match name {
            "contains" | "startswith" | "endswith" => {
                let col = match self.parse_operand()? {
                    Operand::Column(col) => col,
                    Operand::Lit(_) => return Err(self.syntax_error()),
                };
                self.expect(Tok::Comma)?;
                let arg = match self.parse_operand()? {
                    Operand::Lit(Lit::Str(s)) => s,
                    _ => return Err(self.syntax_error()),
                };
                self.expect(Tok::RParen)?;
                let ty = self.def.columns[col].ty;
                if ty.family() != Family::Text {
                    return Err(ApiError::bad_request(format!(
                        "No function signature for the function with name '{name}' matches the specified arguments. The function signatures considered are: {name}(Edm.String Nullable=true, Edm.String)."
                    )));
                }
                let folded = fold(&arg, self.collation, false);
                let pattern = match name {
                    "contains" => format!("%{folded}%"),
                    "startswith" => format!("{folded}%"),
                    _ => format!("%{folded}"),
                };
                self.conditions += 1;
                Ok(Expr::Like {
                    col,
                    pattern: LikePattern::compile(&pattern),
                })
            }
            _ => match name.strip_prefix("Microsoft.Dynamics.CRM.") {
                Some(function) => self.parse_query_function(function, name),
                None => Err(ApiError::bad_request(format!(
                    "An unknown function with name '{name}' was found. This may also be a function import or a key lookup on a navigation property, which is not allowed."
                ))),
            },
        }
    }

    /// `Microsoft.Dynamics.CRM.In(PropertyName='x',PropertyValues=[…])` and friends.
    fn parse_query_function(&mut self, function: &str, full_name: &str) -> Result<Expr, ApiError> {
        let mut params: HashMap<String, Tok> = HashMap::new();
        if self.peek() != Some(&Tok::RParen) {
            loop {
                let name = match self.peek() {
                    Some(Tok::Ident(n)) => n.clone(),
                    _ => return Err(self.syntax_error()),
                };
                self.pos += 1;
                self.expect(Tok::Assign)?;
                let mut value = self
                    .tokens
                    .get(self.pos)
                    .map(|t| t.tok.clone())
                    .ok_or_else(|| self.syntax_error())?;
                self.pos += 1;
                if let Tok::Alias(alias) = &value {
                    value = match self.aliases.get(alias) {
                        Some(text) => {
                            let mut tokens = lex(text)?;
                            if tokens.len() != 1 {
                                return Err(ApiError::bad_request(format!(
                                    "The parameter alias {alias} has an invalid value '{text}'."
                                )));
                            }
                            tokens.remove(0).tok
                        }
                        None => Tok::Ident("null".to_owned()),
                    };
                }
                params.insert(name, value);
                match self.peek() {
                    Some(Tok::Comma) => self.pos += 1,
                    _ => break,
                }
            }
        }
        self.expect(Tok::RParen)?;
        let property = match params.get("PropertyName") {
            Some(Tok::Str(s)) => s.clone(),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "The function '{full_name}' requires the parameter 'PropertyName'."
                )))
            }
        };
        let col = self.column(&property)?;
        let ty = self.def.columns[col].ty;
        let values = || -> Result<Vec<Cmp>, ApiError> {
            let raw = match params.get("PropertyValues") {
                Some(Tok::Json(raw)) => raw,
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "The function '{full_name}' requires the parameter 'PropertyValues' as a JSON array."
                    )))
                }
            };
            let parsed: Vec<serde_json::Value> = serde_json::from_str(raw)
                .map_err(|e| ApiError::bad_request(format!("Invalid JSON. {e}")))?;
            parsed
                .iter()
                .map(|v| {
                    let text = match v {
                        serde_json::Value::String(s) => s.clone(),
                        serde_json::Value::Number(n) => n.to_string(),
                        serde_json::Value::Bool(b) => b.to_string(),
                        other => other.to_string(),
                    };
                    value_key(ty, &text, self.collation).ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "The value '{text}' is not valid for the property '{property}' of type '{}'.",
                            ty.edm()
                        ))
                    })
                })
                .collect()
        };
        match function {
            "In" | "NotIn" => {
                let values = values()?;
                self.conditions += values.len().max(1);
                Ok(Expr::In {
                    col,
                    ty,
                    values,
                    negated: function == "NotIn",
                })
            }
            "Between" | "NotBetween" => {
                let values = values()?;
                let [low, high] = <[Cmp; 2]>::try_from(values).map_err(|_| {
                    ApiError::bad_request(format!(
                        "The function '{full_name}' requires exactly two values."
                    ))
                })?;
                self.conditions += 2;
                let (lo_op, hi_op) = if function == "Between" {
                    (CmpOp::Ge, CmpOp::Le)
                } else {
                    (CmpOp::Lt, CmpOp::Gt)
                };
                let lo = Expr::Compare {
                    op: lo_op,
                    col,
                    ty,
                    right: Side::Value(low),
                };
                let hi = Expr::Compare {
                    op: hi_op,
                    col,
                    ty,
                    right: Side::Value(high),
                };
                Ok(if function == "Between" {
                    Expr::And(Box::new(lo), Box::new(hi))
                } else {
                    Expr::Or(Box::new(lo), Box::new(hi))
                })
            }
            "Null" | "NotNull" => {
                self.conditions += 1;
                Ok(Expr::IsNull {
                    col,
                    negated: function == "NotNull",
                })
            }
            _ => Err(ApiError::new(
                501,
                "0x80060888",
                format!(
                    "The query function '{full_name}' is not supported by the Dataverse emulator."
                ),
            )),
        }
    }
}

fn incompatible(left: &str, right: &str, op: CmpOp) -> ApiError {
    ApiError::bad_request(format!(
        "A binary operator with incompatible types was detected. Found operand types '{left}' and '{right}' for operator kind '{}'.",
        op.kind_name()
    ))
}

/// The key of a literal compared with a column of type `ty`; `None` when the types don't fit.
fn literal_key(ty: AttrType, lit: &Lit, collation: Collation) -> Option<Cmp> {
    match (ty.family(), lit) {
        (Family::Text, Lit::Str(s)) => Some(Cmp::Str(fold(s, collation, true))),
        (Family::Number, Lit::Num(n)) => Dec::parse(n).map(Cmp::Num),
        (Family::Bool, Lit::Bool(b)) => Some(Cmp::Bool(*b)),
        (Family::DateTime, Lit::Date(d)) => Some(Cmp::Text(d.clone())),
        (Family::Guid, Lit::Guid(g)) => Some(Cmp::Text(guid_sort_key(g))),
        // Dataverse documents GUIDs compared as quoted strings.
        (Family::Guid, Lit::Str(s)) => parse_guid(s).map(|g| Cmp::Text(guid_sort_key(&g))),
        _ => None,
    }
}

/// The key of an `In`/`Between` value (always given as text).
pub(crate) fn value_key(ty: AttrType, text: &str, collation: Collation) -> Option<Cmp> {
    match ty.family() {
        Family::Text => Some(Cmp::Str(fold(text, collation, true))),
        Family::Number => Dec::parse(text).map(Cmp::Num),
        Family::Bool => match text {
            "true" | "1" => Some(Cmp::Bool(true)),
            "false" | "0" => Some(Cmp::Bool(false)),
            _ => None,
        },
        Family::DateTime => parse_datetime(text).map(Cmp::Text),
        Family::Guid => parse_guid(text).map(|g| Cmp::Text(guid_sort_key(&g))),
        Family::Json => None,
    }
}
