//! T-SQL `LIKE` patterns, as used by `contains`, `startswith` and `endswith`: `%` (any run),
//! `_` (one character), `[abc]`, `[a-f]` and `[^…]` sets. Both sides are already folded by the
//! collation, so matching here is plain character comparison.

#[derive(Debug, Clone)]
enum Piece {
    AnyRun,
    AnyOne,
    Literal(char),
    Set {
        negated: bool,
        items: Vec<(char, char)>,
    },
}

/// A compiled LIKE pattern.
#[derive(Debug, Clone)]
pub(crate) struct LikePattern {
    pieces: Vec<Piece>,
}

impl LikePattern {
    /// Compiles a pattern. An unclosed `[` is taken literally, as SQL Server does.
    pub(crate) fn compile(pattern: &str) -> LikePattern {
        let chars: Vec<char> = pattern.chars().collect();
        let mut pieces = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '%' => {
                    if !matches!(pieces.last(), Some(Piece::AnyRun)) {
                        pieces.push(Piece::AnyRun);
                    }
                    i += 1;
                }
                '_' => {
                    pieces.push(Piece::AnyOne);
                    i += 1;
                }
                '[' => match chars[i + 1..].iter().position(|c| *c == ']') {
                    Some(offset) if offset > 0 => {
                        let body = &chars[i + 1..i + 1 + offset];
                        pieces.push(compile_set(body));
                        i += offset + 2;
                    }
                    // `[]` or no closing bracket: a literal `[`.
                    _ => {
                        pieces.push(Piece::Literal('['));
                        i += 1;
                    }
                },
                c => {
                    pieces.push(Piece::Literal(c));
                    i += 1;
                }
            }
        }
        LikePattern { pieces }
    }

    /// Whether the whole text matches.
    pub(crate) fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        // Classic wildcard DP over pattern pieces × text positions, one row at a time.
        let mut current = vec![false; text.len() + 1];
        current[0] = true;
        for piece in &self.pieces {
            let mut next = vec![false; text.len() + 1];
            match piece {
                Piece::AnyRun => {
                    let mut reachable = false;
                    for j in 0..=text.len() {
                        reachable |= current[j];
                        next[j] = reachable;
                    }
                }
                _ => {
                    for j in 0..text.len() {
                        if current[j] && piece_matches(piece, text[j]) {
                            next[j + 1] = true;
                        }
                    }
                }
            }
            current = next;
            if !current.iter().any(|b| *b) {
                return false;
            }
        }
        current[text.len()]
    }
}

fn compile_set(body: &[char]) -> Piece {
    let (negated, body) = match body.first() {
        Some('^') if body.len() > 1 => (true, &body[1..]),
        _ => (false, body),
    };
    let mut items = Vec::new();
    let mut i = 0;
    while i < body.len() {
        if i + 2 < body.len() && body[i + 1] == '-' {
            items.push((body[i], body[i + 2]));
            i += 3;
        } else {
            items.push((body[i], body[i]));
            i += 1;
        }
    }
    Piece::Set { negated, items }
}

fn piece_matches(piece: &Piece, c: char) -> bool {
    match piece {
        Piece::AnyRun | Piece::AnyOne => true,
        Piece::Literal(l) => *l == c,
        Piece::Set { negated, items } => {
            items.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != *negated
        }
    }
}

#[cfg(test)]
mod tests {
    use super::LikePattern;

    fn like(pattern: &str, text: &str) -> bool {
        LikePattern::compile(pattern).matches(text)
    }

    #[test]
    fn wildcards() {
        assert!(like("%bc%", "abcd"));
        assert!(like("a_c", "abc"));
        assert!(!like("a_c", "abbc"));
        assert!(like("[a-c]x", "bx"));
        assert!(!like("[^a-c]x", "bx"));
        assert!(like("100[%]", "100%"));
        assert!(!like("100[%]", "1000"));
        assert!(like("[_]a", "_a"));
        assert!(like("[[]x", "[x"));
        assert!(like("%", ""));
        assert!(!like("a%", ""));
    }
}
