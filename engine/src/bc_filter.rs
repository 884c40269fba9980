//! Business Central's filter expressions: what a user types in BC's filter pane, or sees as a
//! table mapping's Table Filter, parsed ([`FilterExpr::parse`]) and evaluated on one value
//! ([`FilterExpr::matches`]) by the field's declared [`FieldType`].
//!
//! The syntax is the one Microsoft documents in *Sort, search, and filter data in lists,
//! reports, or XMLports* (Business Central user docs, sections "Filter criteria and operators"
//! and "Filter on values that contain symbols") and in *SETFILTER Function (Record)* /
//! *Record.SetFilter Method* (developer docs):
//!
//! | written | meaning |
//! |---|---|
//! | `A\|B` | either (`\|` binds looser than `&`) |
//! | `>50&<100` | both |
//! | `(A\|B)&<>C` | parentheses group |
//! | `1100..2100`, `..2500`, `2500..` | interval, bounds included; one side may be open |
//! | `=A`, `<>A`, `<A`, `<=A`, `>A`, `>=A` | comparisons (`=` is the same as no operator) |
//! | `Co*`, `*Co`, `*Co*`, `Hans?n` | `*`: any run of characters, `?`: exactly one character |
//! | `@man*` | case-insensitive (Unicode lower-case mapping of both sides) |
//! | `'J & V*'`, `'it''s'` | quotes make `& \| ( ) = < > . @` and spaces literal; `''` inside is one `'` |
//! | `''`, `<>''` | blank, not blank |
//!
//! Choices where the docs are silent or ambiguous:
//!
//! - **Whitespace** around operators and values is ignored (the docs' own `<=200 | >500` and
//!   `F.. & *A/S`); spaces inside a value are kept (`..12 31 00`); quoted spaces are kept.
//! - **Quotes do not disable wildcards**: the docs filter for "starts with J & V" with
//!   `'J & V*'`, and say quoting concerns only `& ( ) = |`. So a `*` or `?` is always a wildcard.
//! - **`@`** is recognised at the start of a condition, before or after its operator
//!   (`@<>a*`, `<>@a*`); elsewhere it is an ordinary character (`a@b.com`).
//! - An empty condition (`A||B`, `()`), an operator without a value (`<>`: write `<>''`), a
//!   second `..`, wildcards in an interval or an ordering comparison, and unquoted `( = < >`
//!   inside a value are syntax errors ([`FilterSyntaxError`], with a 1-based character
//!   position). An empty filter is an error too: BC's `SetFilter(Field, '')` sets no filter,
//!   which a caller expresses by having no filter.
//! - An interval whose lower bound is above its upper bound matches nothing.
//!
//! Values are compared by the field's type, as [`crate::value`] reads cells: text as written
//! (case-sensitive), code trimmed and upper-cased on both sides (BC stores Code upper-case),
//! integers and decimals by exact numeric value, booleans as `Yes/No`, `true/false`, `1/0`,
//! dates as `YYYY-MM-DD`, options by caption (as text). Blank is a value like any other: the
//! empty text, 0, `No`, or the empty date, which sorts before every date — so `..2024-01-31`
//! keeps blank dates and `''` on a number field is 0, as in BC. A cell that does not read as
//! its type matches no condition.
//!
//! Not reproduced: text intervals and `<`/`>` compare by Unicode code point, where BC's SQL
//! collation orders mixed case and accents linguistically (the same for upper-case Code
//! values of letters and digits); BC's date shorthands and tokens (`23..`, `311221`, `P8`,
//! `%today`) and locale date formats — date literals are `YYYY-MM-DD`; option intervals
//! (BC orders options by their ordinal, which a caption does not give). [`FilterExpr::check`]
//! reports literals a field type cannot read.
//!
//! ```
//! use coupler_engine::bc_filter::FilterExpr;
//! use coupler_engine::FieldType;
//!
//! let filter = FilterExpr::parse("(@contoso*|Fabrikam) & <>''")?;
//! assert!(filter.matches("CONTOSO Ltd", FieldType::Text));
//! assert!(!filter.matches("fabrikam", FieldType::Text)); // case-sensitive without '@'
//! let amounts = FilterExpr::parse("..1299|1400..")?;
//! assert!(amounts.matches("1299.00", FieldType::Decimal));
//! assert!(!amounts.matches("1300", FieldType::Decimal));
//! let err = FilterExpr::parse("(A|B))").unwrap_err();
//! assert_eq!(err.to_string(), "unexpected ')' at position 6");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use thiserror::Error;

use crate::value::{boolean_key, canonical_number, date_key, lower, FieldType};

/// A filter expression that does not parse: what is wrong, and where (1-based position of the
/// character in the expression, counted in characters).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message} at position {position}")]
pub struct FilterSyntaxError {
    /// 1-based character position.
    pub position: usize,
    /// What is wrong, e.g. `unexpected ')'`.
    pub message: String,
}

/// A literal of a filter that the field's type cannot read (see [`FilterExpr::check`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("'{value}' {message}")]
pub struct FilterTypeError {
    /// The literal as written in the filter (without quotes).
    pub value: String,
    /// Why, e.g. `is not a number`.
    pub message: String,
}

/// One piece of a [`Pattern`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Literal text (never empty; never two in a row).
    Text(String),
    /// `*`: any run of characters, including none.
    AnyRun,
    /// `?`: exactly one character.
    AnyChar,
}

/// The value of an `=` or `<>` condition: literal text with optional wildcards. No pieces is
/// the blank value `''`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pattern(Vec<Piece>);

impl Pattern {
    /// A pattern from pieces, merging adjacent texts and dropping empty ones.
    pub fn new(pieces: impl IntoIterator<Item = Piece>) -> Pattern {
        let mut out: Vec<Piece> = Vec::new();
        for p in pieces {
            match (p, out.last_mut()) {
                (Piece::Text(t), _) if t.is_empty() => {}
                (Piece::Text(t), Some(Piece::Text(prev))) => prev.push_str(&t),
                (p, _) => out.push(p),
            }
        }
        Pattern(out)
    }

    /// The pieces, in order.
    pub fn pieces(&self) -> &[Piece] {
        &self.0
    }

    /// The text when the pattern has no wildcards (`""` for blank).
    pub fn literal(&self) -> Option<&str> {
        match self.0.as_slice() {
            [] => Some(""),
            [Piece::Text(t)] => Some(t),
            _ => None,
        }
    }
}

/// What a condition tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Test {
    /// `A`, `=A`, `A*`, `''`.
    Equal(Pattern),
    /// `<>A`, `<>A*`, `<>''`.
    NotEqual(Pattern),
    /// `<A`.
    Less(String),
    /// `<=A`.
    LessOrEqual(String),
    /// `>A`.
    Greater(String),
    /// `>=A`.
    GreaterOrEqual(String),
    /// `A..B`, `..B`, `A..`: bounds included; never both open.
    Range(Option<String>, Option<String>),
}

/// One condition of a filter: a test, optionally case-insensitive (`@`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// `@`: compare the Unicode lower-case mappings of both sides.
    pub case_insensitive: bool,
    /// The test.
    pub test: Test,
}

/// A parsed BC filter expression (see the [module docs](self) for the syntax).
///
/// Trees are flat: an `Or` holds no `Or`, an `And` no `And`, and each holds at least two
/// parts. `Display` writes the expression back in BC's syntax, parenthesised and quoted where
/// needed, so that parsing it gives the same tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterExpr {
    /// `A|B|…`
    Or(Vec<FilterExpr>),
    /// `A&B&…`
    And(Vec<FilterExpr>),
    /// One condition.
    Condition(Condition),
}

impl FilterExpr {
    /// Parses what a BC user types in the filter pane.
    ///
    /// ```
    /// use coupler_engine::bc_filter::{FilterExpr, Test};
    ///
    /// let e = FilterExpr::parse(" 'A|B' ")?;
    /// let FilterExpr::Condition(c) = &e else { panic!() };
    /// assert!(matches!(&c.test, Test::Equal(p) if p.literal() == Some("A|B")));
    /// assert_eq!(
    ///     FilterExpr::parse("Man*|'abc").unwrap_err().to_string(),
    ///     "unclosed quote starting at position 6"
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parse(text: &str) -> Result<FilterExpr, FilterSyntaxError> {
        let mut p = Parser {
            chars: text.chars().collect(),
            i: 0,
        };
        p.skip_ws();
        if p.i == p.chars.len() {
            return Err(p.error(p.i, "empty filter"));
        }
        let expr = p.or()?;
        p.skip_ws();
        if let Some(&c) = p.chars.get(p.i) {
            return Err(p.error(p.i, &format!("unexpected '{c}'")));
        }
        Ok(expr)
    }

    /// Whether `value`, a cell of a field of type `field_type`, passes the filter.
    pub fn matches(&self, value: &str, field_type: FieldType) -> bool {
        let cell = Cell::read(value, field_type);
        self.eval(&cell)
    }

    fn eval(&self, cell: &Cell<'_>) -> bool {
        match self {
            FilterExpr::Or(parts) => parts.iter().any(|p| p.eval(cell)),
            FilterExpr::And(parts) => parts.iter().all(|p| p.eval(cell)),
            FilterExpr::Condition(c) => c.eval(cell),
        }
    }

    /// The conditions, depth first.
    pub fn conditions(&self) -> Vec<&Condition> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect<'a>(&'a self, out: &mut Vec<&'a Condition>) {
        match self {
            FilterExpr::Or(parts) | FilterExpr::And(parts) => {
                parts.iter().for_each(|p| p.collect(out))
            }
            FilterExpr::Condition(c) => out.push(c),
        }
    }

    /// Checks that every literal reads as `field_type`: numbers for integer (whole) and decimal
    /// fields, `YYYY-MM-DD` dates, booleans; wildcards only on text, code and option fields;
    /// no ordering (`<`, `>`, intervals) on option fields. [`matches`](Self::matches) treats a
    /// condition that fails this check as not holding.
    ///
    /// ```
    /// use coupler_engine::bc_filter::FilterExpr;
    /// use coupler_engine::FieldType;
    ///
    /// let e = FilterExpr::parse("10..2O")?;
    /// assert_eq!(
    ///     e.check(FieldType::Integer).unwrap_err().to_string(),
    ///     "'2O' is not a number (integer field)"
    /// );
    /// assert!(e.check(FieldType::Code).is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn check(&self, field_type: FieldType) -> Result<(), FilterTypeError> {
        for c in self.conditions() {
            let ordering = |v: &str| -> Result<(), FilterTypeError> {
                if field_type == FieldType::Option {
                    return Err(FilterTypeError {
                        value: v.to_string(),
                        message: "cannot be compared with '<', '>' or '..' on an option field \
                                  (BC orders options by ordinal, not caption)"
                            .into(),
                    });
                }
                check_literal(v, field_type)
            };
            match &c.test {
                Test::Equal(p) | Test::NotEqual(p) => match p.literal() {
                    Some(v) => check_literal(v, field_type)?,
                    None if is_textual(field_type) => {}
                    None => {
                        return Err(FilterTypeError {
                            value: pattern_text(p),
                            message: format!(
                                "uses wildcards, which a {} field does not support",
                                field_type.name()
                            ),
                        })
                    }
                },
                Test::Less(v)
                | Test::LessOrEqual(v)
                | Test::Greater(v)
                | Test::GreaterOrEqual(v) => ordering(v)?,
                Test::Range(lo, hi) => {
                    for v in [lo, hi].into_iter().flatten() {
                        ordering(v)?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn is_textual(t: FieldType) -> bool {
    matches!(t, FieldType::Text | FieldType::Code | FieldType::Option)
}

fn pattern_text(p: &Pattern) -> String {
    p.0.iter()
        .map(|piece| match piece {
            Piece::Text(t) => t.as_str(),
            Piece::AnyRun => "*",
            Piece::AnyChar => "?",
        })
        .collect()
}

fn check_literal(v: &str, t: FieldType) -> Result<(), FilterTypeError> {
    let bad = |message: String| FilterTypeError {
        value: v.to_string(),
        message,
    };
    match t {
        FieldType::Integer | FieldType::Decimal => {
            let n = dec(v).ok_or_else(|| bad(format!("is not a number ({} field)", t.name())))?;
            if t == FieldType::Integer && n.exp < 0 {
                return Err(bad("is not a whole number (integer field)".into()));
            }
            Ok(())
        }
        FieldType::Boolean => boolean_key(v)
            .map(|_| ())
            .map_err(|_| bad("is not Yes/No, true/false or 1/0 (boolean field)".into())),
        FieldType::Date => date_key(v)
            .map(|_| ())
            .map_err(|_| bad("is not a date YYYY-MM-DD (date field)".into())),
        FieldType::Text | FieldType::Code | FieldType::Option => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/// A cell read once by its field type; `None` when it does not read as the type.
enum Cell<'a> {
    /// The text (a Code cell trimmed and upper-cased), and whether it is a Code cell.
    Text(Cow<'a, str>, bool),
    Number(Option<Dec>),
    Boolean(Option<&'static str>),
    Date(Option<&'a str>),
}

impl<'a> Cell<'a> {
    fn read(value: &'a str, t: FieldType) -> Cell<'a> {
        match t {
            FieldType::Text | FieldType::Option => Cell::Text(Cow::Borrowed(value), false),
            FieldType::Code => Cell::Text(code(value), true),
            FieldType::Integer | FieldType::Decimal => Cell::Number(dec(value)),
            FieldType::Boolean => Cell::Boolean(boolean_key(value).ok()),
            FieldType::Date => Cell::Date(date_key(value).ok()),
        }
    }
}

/// BC's Code: trimmed, upper-case.
fn code(s: &str) -> Cow<'_, str> {
    let t = s.trim();
    if t.chars().any(|c| c.is_lowercase()) {
        Cow::Owned(t.to_uppercase())
    } else {
        Cow::Borrowed(t)
    }
}

impl Condition {
    fn eval(&self, cell: &Cell<'_>) -> bool {
        let ci = self.case_insensitive;
        let ord = |lit: &str| -> Option<Ordering> { compare(cell, lit, ci) };
        match &self.test {
            Test::Equal(p) => pattern_holds(cell, p, ci).unwrap_or(false),
            Test::NotEqual(p) => pattern_holds(cell, p, ci).is_some_and(|m| !m),
            Test::Less(v) => ord(v) == Some(Ordering::Less),
            Test::LessOrEqual(v) => matches!(ord(v), Some(Ordering::Less | Ordering::Equal)),
            Test::Greater(v) => ord(v) == Some(Ordering::Greater),
            Test::GreaterOrEqual(v) => {
                matches!(ord(v), Some(Ordering::Greater | Ordering::Equal))
            }
            Test::Range(lo, hi) => {
                let above = lo
                    .as_deref()
                    .map_or(Some(true), |lo| ord(lo).map(|o| o != Ordering::Less));
                let below = hi
                    .as_deref()
                    .map_or(Some(true), |hi| ord(hi).map(|o| o != Ordering::Greater));
                above == Some(true) && below == Some(true)
            }
        }
    }
}

/// A literal folded like the cell it meets: upper-cased for a Code field (BC stores Code
/// upper-case), then lower-cased for `@`.
fn fold(lit: &str, code: bool, ci: bool) -> Cow<'_, str> {
    let lit: Cow<'_, str> = if code {
        Cow::Owned(lit.to_uppercase())
    } else {
        Cow::Borrowed(lit)
    };
    if ci {
        Cow::Owned(lower(&lit).into_owned())
    } else {
        lit
    }
}

/// `cell` compared with the literal `lit` by the cell's type; `None` when either does not read.
fn compare(cell: &Cell<'_>, lit: &str, ci: bool) -> Option<Ordering> {
    match cell {
        Cell::Text(t, code) => {
            let t: Cow<'_, str> = if ci { lower(t) } else { Cow::Borrowed(t) };
            Some(t.as_ref().cmp(fold(lit, *code, ci).as_ref()))
        }
        Cell::Number(n) => Some(n.as_ref()?.cmp(&dec(lit)?)),
        Cell::Boolean(b) => Some((*b)?.cmp(boolean_key(lit).ok()?)),
        Cell::Date(d) => Some((*d)?.cmp(date_key(lit).ok()?)),
    }
}

/// Whether the cell matches the pattern; `None` when the cell or the literal does not read
/// as the type (or a non-text type meets a wildcard).
fn pattern_holds(cell: &Cell<'_>, p: &Pattern, ci: bool) -> Option<bool> {
    if let Some(lit) = p.literal() {
        return compare(cell, lit, ci).map(|o| o == Ordering::Equal);
    }
    let Cell::Text(t, code) = cell else {
        return None;
    };
    let t: Cow<'_, str> = if ci { lower(t) } else { Cow::Borrowed(t) };
    let value: Vec<char> = t.chars().collect();
    let mut tokens: Vec<Option<char>> = Vec::new(); // None = '?'
    let mut stars: Vec<usize> = Vec::new(); // token positions preceded by '*'
    for piece in &p.0 {
        match piece {
            Piece::Text(s) => {
                tokens.extend(fold(s, *code, ci).chars().map(Some));
            }
            Piece::AnyChar => tokens.push(None),
            Piece::AnyRun => stars.push(tokens.len()),
        }
    }
    Some(glob(&tokens, &stars, &value))
}

/// Wildcard match: `tokens` (a `None` matches any one character), with a `*` before each
/// token index listed in `stars` (an index equal to `tokens.len()` is a trailing `*`).
fn glob(tokens: &[Option<char>], stars: &[usize], value: &[char]) -> bool {
    let is_star = |k: usize| stars.contains(&k);
    let (mut ti, mut vi) = (0usize, 0usize);
    // Where to resume after the last '*': (token index, value index).
    let mut resume: Option<(usize, usize)> = None;
    loop {
        if is_star(ti) {
            resume = Some((ti, vi));
        }
        if ti == tokens.len() {
            if vi == value.len() || is_star(ti) {
                return true;
            }
        } else if vi < value.len() && tokens[ti].is_none_or(|c| c == value[vi]) {
            ti += 1;
            vi += 1;
            continue;
        }
        // Mismatch: let the last '*' swallow one more character.
        match resume {
            Some((t, v)) if v < value.len() => {
                resume = Some((t, v + 1));
                ti = t;
                vi = v + 1;
            }
            _ => return false,
        }
    }
}

/// An exact decimal: sign, significant digits (no leading or trailing zeros), exponent.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Dec {
    sign: i8,
    digits: String,
    exp: i64,
}

fn dec(s: &str) -> Option<Dec> {
    let c = canonical_number(s).ok()?;
    if c == "0" {
        return Some(Dec {
            sign: 0,
            digits: String::new(),
            exp: 0,
        });
    }
    let (sign, rest) = match c.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, c.as_str()),
    };
    let (digits, exp) = rest.split_once('e')?;
    Some(Dec {
        sign,
        digits: digits.to_string(),
        exp: exp.parse().ok()?,
    })
}

impl PartialOrd for Dec {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Dec {
    fn cmp(&self, other: &Self) -> Ordering {
        let by_sign = self.sign.cmp(&other.sign);
        if by_sign != Ordering::Equal || self.sign == 0 {
            return by_sign;
        }
        // Same sign, both non-zero: compare magnitudes by the position of the leading digit,
        // then digit by digit (no trailing zeros, so a prefix is the smaller).
        let lead = |d: &Dec| d.digits.len() as i64 + d.exp;
        let magnitude = lead(self)
            .cmp(&lead(other))
            .then_with(|| self.digits.cmp(&other.digits));
        if self.sign < 0 {
            magnitude.reverse()
        } else {
            magnitude
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing

struct Parser {
    chars: Vec<char>,
    i: usize,
}

/// A token of a condition's value.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Char(char),
    /// Unquoted whitespace (trimmed at the ends of a value).
    Space(char),
    Star,
    One,
    /// A quoted segment was here (so `''` is a value, not nothing).
    Quoted,
    /// `..` at the given index.
    DotDot(usize),
}

impl Parser {
    fn error(&self, at: usize, message: &str) -> FilterSyntaxError {
        FilterSyntaxError {
            position: at + 1,
            message: message.to_string(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.i += 1;
        }
    }

    fn or(&mut self) -> Result<FilterExpr, FilterSyntaxError> {
        self.joined('|', Self::and, FilterExpr::Or)
    }

    fn and(&mut self) -> Result<FilterExpr, FilterSyntaxError> {
        self.joined('&', Self::unary, FilterExpr::And)
    }

    /// Operands separated by `separator`, as one `wrap` (a single operand stands alone; an
    /// operand that is itself a `wrap` list joins this one, so lists stay flat).
    fn joined(
        &mut self,
        separator: char,
        operand: fn(&mut Self) -> Result<FilterExpr, FilterSyntaxError>,
        wrap: fn(Vec<FilterExpr>) -> FilterExpr,
    ) -> Result<FilterExpr, FilterSyntaxError> {
        let kind = std::mem::discriminant(&wrap(Vec::new()));
        let mut parts = Vec::new();
        loop {
            let e = operand(self)?;
            let same_kind = std::mem::discriminant(&e) == kind;
            match e {
                FilterExpr::Or(inner) | FilterExpr::And(inner) if same_kind => parts.extend(inner),
                e => parts.push(e),
            }
            self.skip_ws();
            if self.peek() == Some(separator) {
                self.i += 1;
            } else {
                break;
            }
        }
        Ok(if parts.len() == 1 {
            parts.pop().expect("one part")
        } else {
            wrap(parts)
        })
    }

    fn unary(&mut self) -> Result<FilterExpr, FilterSyntaxError> {
        self.skip_ws();
        if self.peek() == Some('(') {
            let open = self.i;
            self.i += 1;
            let e = self.or()?;
            self.skip_ws();
            return match self.peek() {
                Some(')') => {
                    self.i += 1;
                    Ok(e)
                }
                Some(c) => Err(self.error(self.i, &format!("unexpected '{c}'"))),
                None => Err(self.error(open, "unclosed '('")),
            };
        }
        self.condition().map(FilterExpr::Condition)
    }

    fn condition(&mut self) -> Result<Condition, FilterSyntaxError> {
        let start = self.i;
        let mut case_insensitive = false;
        if self.peek() == Some('@') {
            case_insensitive = true;
            self.i += 1;
        }
        let op_at = self.i;
        let rest: String = self.chars[self.i..].iter().take(2).collect();
        let op = ["<>", "<=", ">=", "<", ">", "="]
            .into_iter()
            .find(|op| rest.starts_with(op));
        if let Some(op) = op {
            self.i += op.len();
            self.skip_ws();
            if self.peek() == Some('@') {
                case_insensitive = true;
                self.i += 1;
            }
        }
        let value_at = self.i;
        let toks = self.value()?;
        let mut ranges = toks.iter().filter_map(|t| match t {
            Tok::DotDot(at) => Some(*at),
            _ => None,
        });
        let range_at = ranges.next();
        if let Some(second) = ranges.next() {
            return Err(self.error(second, "second '..' in one condition"));
        }
        let test = match (op, range_at) {
            (Some(op), Some(at)) => {
                return Err(self.error(at, &format!("'..' cannot follow '{op}'")));
            }
            (_, Some(at)) => {
                let split = toks
                    .iter()
                    .position(|t| matches!(t, Tok::DotDot(_)))
                    .expect("a '..'");
                let lo = self.bound(&toks[..split], at)?;
                let hi = self.bound(&toks[split + 1..], at)?;
                if lo.is_none() && hi.is_none() {
                    return Err(self.error(at, "empty range"));
                }
                Test::Range(lo, hi)
            }
            (op, None) => {
                let toks = trim(&toks);
                if toks.is_empty() {
                    return Err(match op {
                        Some(op) => self.error(op_at, &format!("missing value after '{op}'")),
                        None if case_insensitive => self.error(start, "missing value after '@'"),
                        None if self.peek() == Some(')') => self.error(self.i, "unexpected ')'"),
                        None => self.error(start, "empty condition"),
                    });
                }
                let pattern = Pattern::new(toks.iter().filter_map(|t| match t {
                    Tok::Char(c) | Tok::Space(c) => Some(Piece::Text(c.to_string())),
                    Tok::Star => Some(Piece::AnyRun),
                    Tok::One => Some(Piece::AnyChar),
                    Tok::Quoted | Tok::DotDot(_) => None,
                }));
                let plain = || match pattern.literal() {
                    Some(v) => Ok(v.to_string()),
                    None => Err(self.error(
                        value_at,
                        &format!("wildcards '*' and '?' cannot follow '{}'", op.unwrap_or("")),
                    )),
                };
                match op {
                    None | Some("=") => Test::Equal(pattern),
                    Some("<>") => Test::NotEqual(pattern),
                    Some("<") => Test::Less(plain()?),
                    Some("<=") => Test::LessOrEqual(plain()?),
                    Some(">") => Test::Greater(plain()?),
                    _ => Test::GreaterOrEqual(plain()?),
                }
            }
        };
        Ok(Condition {
            case_insensitive,
            test,
        })
    }

    /// One side of an interval: `None` when open.
    fn bound(&self, toks: &[Tok], at: usize) -> Result<Option<String>, FilterSyntaxError> {
        let toks = trim(toks);
        if toks.is_empty() {
            return Ok(None);
        }
        let mut s = String::new();
        for t in toks {
            match t {
                Tok::Char(c) | Tok::Space(c) => s.push(*c),
                Tok::Star | Tok::One => {
                    return Err(self.error(at, "wildcards '*' and '?' cannot be used in a range"))
                }
                Tok::Quoted | Tok::DotDot(_) => {}
            }
        }
        Ok(Some(s))
    }

    /// The tokens of a value, up to an unquoted `|`, `&`, `)` or the end.
    fn value(&mut self) -> Result<Vec<Tok>, FilterSyntaxError> {
        let mut toks = Vec::new();
        while let Some(c) = self.peek() {
            match c {
                '|' | '&' | ')' => break,
                '(' | '=' | '<' | '>' => {
                    return Err(self.error(
                        self.i,
                        &format!("unexpected '{c}' (quote a value that contains it)"),
                    ))
                }
                '\'' => {
                    let open = self.i;
                    self.i += 1;
                    toks.push(Tok::Quoted);
                    loop {
                        match self.peek() {
                            None => return Err(self.error(open, "unclosed quote starting")),
                            Some('\'') if self.chars.get(self.i + 1) == Some(&'\'') => {
                                toks.push(Tok::Char('\''));
                                self.i += 2;
                            }
                            Some('\'') => {
                                self.i += 1;
                                break;
                            }
                            Some('*') => {
                                toks.push(Tok::Star);
                                self.i += 1;
                            }
                            Some('?') => {
                                toks.push(Tok::One);
                                self.i += 1;
                            }
                            Some(c) => {
                                toks.push(Tok::Char(c));
                                self.i += 1;
                            }
                        }
                    }
                    continue;
                }
                '.' if self.chars.get(self.i + 1) == Some(&'.') => {
                    toks.push(Tok::DotDot(self.i));
                    self.i += 2;
                    continue;
                }
                '*' => toks.push(Tok::Star),
                '?' => toks.push(Tok::One),
                c if c.is_whitespace() => toks.push(Tok::Space(c)),
                c => toks.push(Tok::Char(c)),
            }
            self.i += 1;
        }
        Ok(toks)
    }
}

/// Without unquoted whitespace at either end.
fn trim(toks: &[Tok]) -> &[Tok] {
    let start = toks
        .iter()
        .position(|t| !matches!(t, Tok::Space(_)))
        .unwrap_or(toks.len());
    let end = toks
        .iter()
        .rposition(|t| !matches!(t, Tok::Space(_)))
        .map_or(start, |e| e + 1);
    &toks[start..end]
}

// ---------------------------------------------------------------------------------------------
// Printing

/// Characters that make a text need quotes when printed.
fn needs_quotes(s: &str) -> bool {
    s.is_empty()
        || s.chars().any(|c| {
            c.is_whitespace()
                || matches!(
                    c,
                    '&' | '|' | '(' | ')' | '=' | '<' | '>' | '@' | '\'' | '.'
                )
        })
}

fn write_text(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    if needs_quotes(s) {
        write!(f, "'{}'", s.replace('\'', "''"))
    } else {
        f.write_str(s)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("''");
        }
        for piece in &self.0 {
            match piece {
                Piece::Text(t) => write_text(f, t)?,
                Piece::AnyRun => f.write_str("*")?,
                Piece::AnyChar => f.write_str("?")?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.case_insensitive {
            f.write_str("@")?;
        }
        match &self.test {
            Test::Equal(p) => write!(f, "{p}"),
            Test::NotEqual(p) => write!(f, "<>{p}"),
            Test::Less(v) => {
                f.write_str("<")?;
                write_text(f, v)
            }
            Test::LessOrEqual(v) => {
                f.write_str("<=")?;
                write_text(f, v)
            }
            Test::Greater(v) => {
                f.write_str(">")?;
                write_text(f, v)
            }
            Test::GreaterOrEqual(v) => {
                f.write_str(">=")?;
                write_text(f, v)
            }
            Test::Range(lo, hi) => {
                if let Some(lo) = lo {
                    write_text(f, lo)?;
                }
                f.write_str("..")?;
                if let Some(hi) = hi {
                    write_text(f, hi)?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for FilterExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FilterExpr::Condition(c) => write!(f, "{c}"),
            FilterExpr::Or(parts) => {
                for (k, p) in parts.iter().enumerate() {
                    if k > 0 {
                        f.write_str("|")?;
                    }
                    write!(f, "{p}")?;
                }
                Ok(())
            }
            FilterExpr::And(parts) => {
                for (k, p) in parts.iter().enumerate() {
                    if k > 0 {
                        f.write_str("&")?;
                    }
                    match p {
                        FilterExpr::Or(_) => write!(f, "({p})")?,
                        _ => write!(f, "{p}")?,
                    }
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use FieldType::{Boolean, Code, Date, Decimal, Integer, Option as Opt, Text};

    /// `(expression, field type, value, expected)`.
    type Row = (&'static str, FieldType, &'static str, bool);

    /// Microsoft's documented examples.
    #[rustfmt::skip]
    const DOCUMENTED: &[Row] = &[
        // "Sort, search, and filter data in lists, reports, or XMLports" (Business Central user
        // docs), "Filter criteria and operators".
        // (..) Interval
        ("1100..2100", Integer, "1100", true), ("1100..2100", Integer, "1600", true),
        ("1100..2100", Integer, "2100", true), ("1100..2100", Integer, "1099", false),
        ("1100..2100", Integer, "2101", false),
        ("..2500", Integer, "2500", true), ("..2500", Integer, "-7", true),
        ("..2500", Integer, "2501", false),
        ("Bicycle..Car", Text, "Bicycle", true), ("Bicycle..Car", Text, "Bus", true),
        ("Bicycle..Car", Text, "Car", true), ("Bicycle..Car", Text, "Cart", false),
        ("Bicycle..Car", Text, "Apple", false),
        // The note: a Text field holding numbers is ordered lexicographically.
        ("10000..10042", Text, "100000", true), ("10000..10042", Text, "1000042", true),
        ("10000..10042", Integer, "100000", false), ("10000..10042", Integer, "10042", true),
        // (|) Either/or
        ("1200|1300", Integer, "1200", true), ("1200|1300", Integer, "1300", true),
        ("1200|1300", Integer, "1250", false),
        // (<>) Not equal to, and the tip's <>A*
        ("<>0", Integer, "0", false), ("<>0", Integer, "5", true), ("<>0", Decimal, "0.00", false),
        ("<>A*", Text, "Apple", false), ("<>A*", Text, "Banana", true),
        // (>) (>=) (<) (<=)
        (">1200", Integer, "1200", false), (">1200", Integer, "1201", true),
        (">=1200", Integer, "1200", true), (">=1200", Integer, "1199", false),
        ("<1200", Integer, "1199", true), ("<1200", Integer, "1200", false),
        ("<=1200", Integer, "1200", true), ("<=1200", Integer, "1201", false),
        // (&) And
        (">200&<1200", Integer, "200", false), (">200&<1200", Integer, "201", true),
        (">200&<1200", Integer, "1199", true), (">200&<1200", Integer, "1200", false),
        // ('') An exact character match
        ("'man'", Text, "man", true), ("'man'", Text, "Man", false), ("'man'", Text, "many", false),
        ("''", Text, "", true), ("''", Text, "x", false),
        // (@) Case-insensitive
        ("@man*", Text, "Manchester", true), ("@man*", Text, "manual", true),
        ("@man*", Text, "Sportsman", false),
        // (*) An indefinite number of unknown characters
        ("*Co*", Text, "Contoso", true), ("*Co*", Text, "Acme Corp", true),
        ("*Co*", Text, "acme co", false),
        ("*Co", Text, "Contoso Co", true), ("*Co", Text, "Contoso Corp", false),
        ("Co*", Text, "Contoso", true), ("Co*", Text, "contoso", false),
        // (?) One unknown character
        ("Hans?n", Text, "Hansen", true), ("Hans?n", Text, "Hanson", true),
        ("Hans?n", Text, "Hansn", false), ("Hans?n", Text, "Hanssen", false),
        // Combined format expressions
        ("5999|8100..8490", Integer, "5999", true), ("5999|8100..8490", Integer, "8200", true),
        ("5999|8100..8490", Integer, "8491", false), ("5999|8100..8490", Integer, "6000", false),
        ("..1299|1400..", Integer, "1299", true), ("..1299|1400..", Integer, "1300", false),
        ("..1299|1400..", Integer, "1399", false), ("..1299|1400..", Integer, "1400", true),
        (">50&<100", Integer, "51", true), (">50&<100", Integer, "99", true),
        (">50&<100", Integer, "50", false), (">50&<100", Integer, "100", false),
        // "Filter on values that contain symbols"
        ("'J & V*'", Text, "J & V Transport", true), ("'J & V*'", Text, "J&V", false),
        // Same page, "Fine-tune the search by using filter criteria" (the table's criteria read
        // as filters on one field).
        ("'Man'", Text, "Man", true), ("'Man'", Text, "Manchester", false),
        ("Man*", Text, "Manchester", true), ("Man*", Text, "manual", false),
        ("@Man*", Text, "manual", true), ("@Man*", Text, "Sportsman", false),
        ("@*man", Text, "Sportsman", true), ("@*man", Text, "Manchester", false),
        // "SETFILTER Function (Record)" (Dynamics NAV developer docs), its table of filters.
        ("A..Z", Code, "M", true), ("A..Z", Code, "ZZ", false),
        ("A|G", Code, "G", true), ("A|G", Code, "B", false),
        ("F.. & *A/S", Text, "Fabrikam A/S", true), ("F.. & *A/S", Text, "Adatum A/S", false),
        ("F.. & *A/S", Text, "Fabrikam Inc", false),
        ("<>B", Code, "B", false), ("<>B", Code, "C", true),
        ("<>''", Text, "x", true), ("<>''", Text, "", false),
        ("<=200 | >500", Integer, "200", true), ("<=200 | >500", Integer, "300", false),
        ("<=200 | >500", Integer, "501", true),
    ];

    /// Edge cases of our own.
    #[rustfmt::skip]
    const EDGES: &[Row] = &[
        // Quotes: operators literal, '' is one quote, spaces kept.
        ("'A|B'", Text, "A|B", true), ("'A|B'", Text, "A", false),
        ("'it''s'", Text, "it's", true), ("''''", Text, "'", true),
        ("' a '", Text, " a ", true), ("' a '", Text, "a", false),
        ("'1..2'", Text, "1..2", true), ("'1..2'", Text, "1", false),
        ("'(x)'|y", Text, "(x)", true), ("'<>'", Text, "<>", true),
        ("a@b.com", Text, "a@b.com", true), ("'@x'", Text, "@x", true), ("'@x'", Text, "x", false),
        // Whitespace around values and operators is ignored; inside a value kept.
        ("  Contoso Ltd  |  x ", Text, "Contoso Ltd", true), ("<  5", Integer, "4", true),
        // '@' before or after the operator, on comparisons and ranges too.
        ("@<>man", Text, "MAN", false), ("<>@man", Text, "MAN", false), ("<>man", Text, "MAN", true),
        ("@a..c", Text, "B", true), ("a..c", Text, "B", false), ("@>=B", Text, "a", false),
        // Nested parentheses; '&' binds tighter than '|'.
        ("((A|B)&(<>B|C))", Code, "A", true), ("((A|B)&(<>B|C))", Code, "B", false),
        ("A|B&C", Text, "A", true), ("(A|B)&C", Text, "A", false),
        ("( A | B ) & <>''", Text, "B", true),
        // Code: both sides trimmed and upper-cased.
        ("c1", Code, " C1 ", true), ("<>c1", Code, "c1", false), ("c*", Code, "c10", true),
        ("''", Code, "   ", true), ("<>''", Code, "   ", false), ("c1", Text, "C1", false),
        // Numbers by value; blank is 0.
        ("1.5..", Decimal, "1.50", true), ("1.5..", Decimal, "1.49", false),
        ("-2..-1", Decimal, "-1.5", true), ("-2..-1", Decimal, "-0.5", false),
        ("..-1", Decimal, "-10", true), ("10..", Integer, "9", false), ("10..", Integer, "010", true),
        ("''", Integer, "", true), ("''", Integer, "0", true), ("<>''", Integer, "", false),
        ("..0", Integer, "", true), ("1..", Integer, "", false), ("0.1..0.3", Decimal, ".2", true),
        ("5", Integer, "abc", false), ("<>5", Integer, "abc", false), ("5", Integer, "5x", false),
        ("2..1", Integer, "1", false), ("1e2", Decimal, "100", true),
        // Dates: blank sorts first; a time after the date is ignored.
        ("..2024-01-31", Date, "", true), ("..2024-01-31", Date, "2024-01-31T23:00:00Z", true),
        ("..2024-01-31", Date, "2024-02-01", false), ("2024-02-01..", Date, "", false),
        ("2024-02-01..", Date, "2024-02-01", true), ("2024-01-01..2024-12-31", Date, "2023-12-31", false),
        ("''", Date, "", true), ("<>''", Date, "2024-01-01", true), ("<>''", Date, "", false),
        ("2024-02-30", Date, "2024-02-30", false),
        // Booleans as value.rs reads them; blank is No.
        ("Yes", Boolean, "true", true), ("Yes", Boolean, "1", true), ("yes", Boolean, "0", false),
        ("No", Boolean, "", true), ("<>No", Boolean, "TRUE", true), ("false", Boolean, "No", true),
        // Options by caption.
        ("Open|Released", Opt, "Released", true), ("Open|Released", Opt, "Pending", false),
        ("@open", Opt, "Open", true),
        // Wildcards: '*' alone matches blank too; '?' needs exactly one character.
        ("*", Text, "", true), ("?", Text, "", false), ("?", Text, "x", true),
        ("a*b*c", Text, "abbc", true), ("a*b*c", Text, "acb", false), ("*a*a", Text, "aXaYa", true),
        ("*?", Text, "", false), ("**", Text, "x", true), ("'a'*'b'", Text, "a--b", true),
        ("@*É*", Text, "café", true), ("*É*", Text, "café", false),
        // Wildcards on a number field never hold.
        ("1*", Integer, "10", false), ("<>1*", Integer, "10", false),
    ];

    #[test]
    fn documented_examples_and_edge_cases() {
        for &(expr, t, value, expected) in DOCUMENTED.iter().chain(EDGES) {
            let parsed = FilterExpr::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
            assert_eq!(
                parsed.matches(value, t),
                expected,
                "{expr:?} on {} value {value:?}",
                t.name()
            );
        }
    }

    #[test]
    fn syntax_errors_name_the_position() {
        for (expr, message) in [
            ("(A|B))", "unexpected ')' at position 6"),
            (")", "unexpected ')' at position 1"),
            ("A|", "empty condition at position 3"),
            ("|A", "empty condition at position 1"),
            ("A||B", "empty condition at position 3"),
            ("()", "unexpected ')' at position 2"),
            ("..", "empty range at position 1"),
            (" .. |x", "empty range at position 2"),
            ("'abc", "unclosed quote starting at position 1"),
            ("Man*|'it''s", "unclosed quote starting at position 6"),
            ("(A|B", "unclosed '(' at position 1"),
            ("(A|B C", "unclosed '(' at position 1"),
            ("<>", "missing value after '<>' at position 1"),
            ("@<= ", "missing value after '<=' at position 2"),
            ("@", "missing value after '@' at position 1"),
            ("1..2..3", "second '..' in one condition at position 5"),
            ("<..5", "'..' cannot follow '<' at position 2"),
            (
                ">A*",
                "wildcards '*' and '?' cannot follow '>' at position 2",
            ),
            (
                "A..B*",
                "wildcards '*' and '?' cannot be used in a range at position 2",
            ),
            (
                "A=B",
                "unexpected '=' (quote a value that contains it) at position 2",
            ),
            (
                "A(B)",
                "unexpected '(' (quote a value that contains it) at position 2",
            ),
            (
                "< = 5",
                "unexpected '=' (quote a value that contains it) at position 3",
            ),
            ("", "empty filter at position 1"),
            ("   ", "empty filter at position 4"),
        ] {
            assert_eq!(
                FilterExpr::parse(expr)
                    .map(|e| e.to_string())
                    .unwrap_err()
                    .to_string(),
                message,
                "{expr:?}"
            );
        }
    }

    #[test]
    fn type_checks() {
        let check = |e: &str, t| {
            FilterExpr::parse(e)
                .unwrap()
                .check(t)
                .map_err(|e| e.to_string())
        };
        assert_eq!(check("1|2.5..3", Decimal), Ok(()));
        assert_eq!(
            check("1|2.5..3", Integer),
            Err("'2.5' is not a whole number (integer field)".into())
        );
        assert_eq!(
            check("1*", Integer),
            Err("'1*' uses wildcards, which a integer field does not support".into())
        );
        assert_eq!(
            check("..31-12-2024", Date),
            Err("'31-12-2024' is not a date YYYY-MM-DD (date field)".into())
        );
        assert_eq!(check("''|..2024-12-31", Date), Ok(()));
        assert_eq!(
            check("Maybe", Boolean),
            Err("'Maybe' is not Yes/No, true/false or 1/0 (boolean field)".into())
        );
        assert!(check("Open..Released", Opt).is_err());
        assert_eq!(check("Op*|<>Closed", Opt), Ok(()));
        assert_eq!(check("a..b|<c|@x*", Text), Ok(()));
    }

    #[test]
    fn printing_is_canonical() {
        for (text, printed) in [
            (" A | B & C ", "A|B&C"),
            ("(A|B)&(C|D)", "(A|B)&(C|D)"),
            ("((A&B))&C", "A&B&C"),
            ("(A|(B|C))", "A|B|C"),
            ("'it''s'|' x'*", "'it''s'|' x'*"),
            ("=1.5", "'1.5'"),
            ("<>@a", "@<>a"),
            (" ..  5", "..5"),
            ("''..a", "''..a"),
        ] {
            assert_eq!(
                FilterExpr::parse(text).unwrap().to_string(),
                printed,
                "{text:?}"
            );
        }
    }

    // ---- Differential test: the evaluator against a literal model ----------------------------

    fn or_of(parts: Vec<FilterExpr>) -> FilterExpr {
        let mut flat = Vec::new();
        for p in parts {
            match p {
                FilterExpr::Or(inner) => flat.extend(inner),
                p => flat.push(p),
            }
        }
        FilterExpr::Or(flat)
    }

    fn and_of(parts: Vec<FilterExpr>) -> FilterExpr {
        let mut flat = Vec::new();
        for p in parts {
            match p {
                FilterExpr::And(inner) => flat.extend(inner),
                p => flat.push(p),
            }
        }
        FilterExpr::And(flat)
    }

    fn tree(literal: BoxedStrategy<String>, wildcards: bool) -> impl Strategy<Value = FilterExpr> {
        let piece = if wildcards {
            prop_oneof![
                3 => literal.clone().prop_map(Piece::Text),
                1 => Just(Piece::AnyRun),
                1 => Just(Piece::AnyChar),
            ]
            .boxed()
        } else {
            literal.clone().prop_map(Piece::Text).boxed()
        };
        let pattern = proptest::collection::vec(piece, 0..4).prop_map(Pattern::new);
        let l = literal.clone();
        let test = prop_oneof![
            pattern.clone().prop_map(Test::Equal),
            pattern.prop_map(Test::NotEqual),
            l.clone().prop_map(Test::Less),
            l.clone().prop_map(Test::LessOrEqual),
            l.clone().prop_map(Test::Greater),
            l.clone().prop_map(Test::GreaterOrEqual),
            (proptest::option::of(l.clone()), proptest::option::of(l))
                .prop_filter("not both open", |(a, b)| a.is_some() || b.is_some())
                .prop_map(|(a, b)| Test::Range(a, b)),
        ];
        let leaf = (any::<bool>(), test).prop_map(|(case_insensitive, test)| {
            FilterExpr::Condition(Condition {
                case_insensitive,
                test,
            })
        });
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 2..4).prop_map(or_of),
                proptest::collection::vec(inner, 2..4).prop_map(and_of),
            ]
        })
    }

    /// The model: text conditions through `regex` and `String` ordering, numbers through `f64`.
    fn model(e: &FilterExpr, v: &str, numeric: bool) -> bool {
        match e {
            FilterExpr::Or(p) => p.iter().any(|p| model(p, v, numeric)),
            FilterExpr::And(p) => p.iter().all(|p| model(p, v, numeric)),
            FilterExpr::Condition(c) if numeric => {
                let num = |s: &str| -> Option<f64> {
                    let s = s.trim();
                    if s.is_empty() {
                        Some(0.0)
                    } else {
                        s.parse().ok()
                    }
                };
                let Some(x) = num(v) else { return false };
                let lit = |l: &str| num(l);
                let pat = |p: &Pattern| p.literal().and_then(lit);
                match &c.test {
                    Test::Equal(p) => pat(p).is_some_and(|y| x == y),
                    Test::NotEqual(p) => pat(p).is_some_and(|y| x != y),
                    Test::Less(l) => lit(l).is_some_and(|y| x < y),
                    Test::LessOrEqual(l) => lit(l).is_some_and(|y| x <= y),
                    Test::Greater(l) => lit(l).is_some_and(|y| x > y),
                    Test::GreaterOrEqual(l) => lit(l).is_some_and(|y| x >= y),
                    Test::Range(a, b) => {
                        let lo = a.as_deref().map_or(Some(true), |a| lit(a).map(|y| x >= y));
                        let hi = b.as_deref().map_or(Some(true), |b| lit(b).map(|y| x <= y));
                        lo == Some(true) && hi == Some(true)
                    }
                }
            }
            FilterExpr::Condition(c) => {
                let f = |s: &str| {
                    if c.case_insensitive {
                        s.to_lowercase()
                    } else {
                        s.to_string()
                    }
                };
                let x = f(v);
                let re = |p: &Pattern| {
                    let mut src = String::from("(?s)^");
                    for piece in p.pieces() {
                        match piece {
                            Piece::Text(t) => src.push_str(&regex::escape(&f(t))),
                            Piece::AnyRun => src.push_str(".*"),
                            Piece::AnyChar => src.push('.'),
                        }
                    }
                    src.push('$');
                    regex::Regex::new(&src).unwrap().is_match(&x)
                };
                match &c.test {
                    Test::Equal(p) => re(p),
                    Test::NotEqual(p) => !re(p),
                    Test::Less(l) => x < f(l),
                    Test::LessOrEqual(l) => x <= f(l),
                    Test::Greater(l) => x > f(l),
                    Test::GreaterOrEqual(l) => x >= f(l),
                    Test::Range(a, b) => {
                        a.as_deref().is_none_or(|a| x >= f(a))
                            && b.as_deref().is_none_or(|b| x <= f(b))
                    }
                }
            }
        }
    }

    fn text_literal() -> BoxedStrategy<String> {
        "[aAbBé |&'.()@=<>]{0,3}".boxed()
    }

    fn number_literal() -> BoxedStrategy<String> {
        prop_oneof![
            Just(String::new()),
            Just("0".to_string()),
            Just("x".to_string()),
            (-12i32..12).prop_map(|n| n.to_string()),
            (-12i32..12).prop_map(|n| format!("{}.5", n)),
            (0i32..12).prop_map(|n| format!("0{n}.0")),
        ]
        .boxed()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn text_filters_agree_with_the_model(
            e in tree(text_literal(), true),
            values in proptest::collection::vec("[aAbBÉé |&'.*?]{0,4}", 1..8),
        ) {
            let printed = e.to_string();
            let parsed = FilterExpr::parse(&printed).map_err(|err| {
                TestCaseError::fail(format!("{printed:?}: {err}"))
            })?;
            prop_assert_eq!(&parsed, &e, "{:?}", printed);
            for v in &values {
                prop_assert_eq!(parsed.matches(v, Text), model(&e, v, false), "{:?} on {:?}", printed, v);
            }
        }

        #[test]
        fn number_filters_agree_with_the_model(
            e in tree(number_literal(), false),
            values in proptest::collection::vec(number_literal(), 1..8),
        ) {
            let printed = e.to_string();
            let parsed = FilterExpr::parse(&printed).map_err(|err| {
                TestCaseError::fail(format!("{printed:?}: {err}"))
            })?;
            prop_assert_eq!(&parsed, &e, "{:?}", printed);
            for v in &values {
                prop_assert_eq!(parsed.matches(v, Decimal), model(&e, v, true), "{:?} on {:?}", printed, v);
            }
        }
    }
}
