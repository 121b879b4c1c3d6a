//! Blob index tag expressions: the `where` parameter of Find Blobs by Tags and the
//! `x-ms-if-tags` conditional header.
//!
//! Both share one lexical grammar: tag keys in double quotes (`"project"`), values in single
//! quotes (`'lazuli'`), comparison operators `=`, `<>`, `>`, `>=`, `<`, `<=`, the keywords
//! `AND` and `OR` (any case), and parentheses. The dialects differ in what they accept:
//!
//! - [`Dialect::Filter`] (Find Blobs by Tags): a conjunction of comparisons only (`AND`, no
//!   `OR`, no `<>`, no parentheses), at most ten, and the `@container` pseudo-key, compared
//!   with `=` only.
//! - [`Dialect::Condition`] (`x-ms-if-tags`): `AND`, `OR`, `<>`, parentheses; no `@container`.
//!
//! Comparisons are on strings, byte-wise (what the service documents: values compare
//! lexicographically). Parsing is pure and bounded by the input length, so this module lives
//! here, below both the front-end (which rejects bad syntax with a 400) and the partition
//! layer (which evaluates conditions under the blob's lock and drives the tag index).

/// At most this many comparisons in a Find Blobs by Tags expression.
pub const FILTER_CONDITIONS_MAX: usize = 10;
/// Expressions longer than this are refused before parsing.
pub const EXPRESSION_BYTES_MAX: usize = 4096;
/// Nesting depth bound for parenthesised condition expressions.
const DEPTH_MAX: usize = 16;

/// The key under which Find Blobs by Tags names the container scope.
pub const CONTAINER_KEY: &str = "@container";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Filter,
    Condition,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CmpOp {
    pub fn holds(self, actual: &str, expected: &str) -> bool {
        let ord = actual.as_bytes().cmp(expected.as_bytes());
        match self {
            CmpOp::Eq => ord.is_eq(),
            CmpOp::Ne => ord.is_ne(),
            CmpOp::Gt => ord.is_gt(),
            CmpOp::Ge => ord.is_ge(),
            CmpOp::Lt => ord.is_lt(),
            CmpOp::Le => ord.is_le(),
        }
    }
}

/// One comparison: `"key" op 'value'` (key `@container` for the container scope).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comparison {
    pub key: String,
    pub op: CmpOp,
    pub value: String,
}

impl Comparison {
    /// A tag that is absent satisfies no comparison, as an SQL NULL would not.
    pub fn holds(&self, tags: &[(String, String)]) -> bool {
        tags.iter()
            .find(|(k, _)| *k == self.key)
            .is_some_and(|(_, v)| self.op.holds(v, &self.value))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TagExpr {
    Cmp(Comparison),
    And(Box<TagExpr>, Box<TagExpr>),
    Or(Box<TagExpr>, Box<TagExpr>),
}

impl TagExpr {
    pub fn holds(&self, tags: &[(String, String)]) -> bool {
        match self {
            TagExpr::Cmp(c) => c.holds(tags),
            TagExpr::And(a, b) => a.holds(tags) && b.holds(tags),
            TagExpr::Or(a, b) => a.holds(tags) || b.holds(tags),
        }
    }

    /// The comparisons of a pure conjunction (the Filter dialect's shape), in order.
    pub fn conjuncts(&self) -> Option<Vec<&Comparison>> {
        match self {
            TagExpr::Cmp(c) => Some(vec![c]),
            TagExpr::And(a, b) => {
                let mut out = a.conjuncts()?;
                out.extend(b.conjuncts()?);
                Some(out)
            }
            TagExpr::Or(..) => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Key(String),
    Value(String),
    Container,
    Op(CmpOp),
    And,
    Or,
    Open,
    Close,
}

fn tag_char_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ' ' | '+' | '-' | '.' | '/' | ':' | '=' | '_')
}

fn quoted(chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>, quote: char) -> Result<String, String> {
    let mut out = String::new();
    loop {
        match chars.next() {
            Some((_, c)) if c == quote => return Ok(out),
            Some((at, c)) if !tag_char_ok(c) => {
                return Err(format!(
                    "character '{c}' at position {at} is not allowed in a tag key or value"
                ))
            }
            Some((_, c)) => out.push(c),
            None => return Err(format!("unterminated {quote}-quoted string")),
        }
    }
}

fn lex(input: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        match c {
            ' ' | '\t' | '\r' | '\n' => {
                chars.next();
            }
            '"' => {
                chars.next();
                let key = quoted(&mut chars, '"')?;
                if key.is_empty() || key.chars().count() > 128 {
                    return Err("a tag key must have 1 to 128 characters".into());
                }
                tokens.push(Token::Key(key));
            }
            '\'' => {
                chars.next();
                let value = quoted(&mut chars, '\'')?;
                if value.chars().count() > 256 {
                    return Err("a tag value must have at most 256 characters".into());
                }
                tokens.push(Token::Value(value));
            }
            '(' => {
                chars.next();
                tokens.push(Token::Open);
            }
            ')' => {
                chars.next();
                tokens.push(Token::Close);
            }
            '=' => {
                chars.next();
                tokens.push(Token::Op(CmpOp::Eq));
            }
            '<' | '>' => {
                chars.next();
                let next = chars.peek().map(|&(_, n)| n);
                let op = match (c, next) {
                    ('<', Some('=')) => Some(CmpOp::Le),
                    ('<', Some('>')) => Some(CmpOp::Ne),
                    ('>', Some('=')) => Some(CmpOp::Ge),
                    _ => None,
                };
                match op {
                    Some(op) => {
                        chars.next();
                        tokens.push(Token::Op(op));
                    }
                    None => tokens.push(Token::Op(if c == '<' { CmpOp::Lt } else { CmpOp::Gt })),
                }
            }
            c if c == '@' || c.is_ascii_alphabetic() => {
                let mut word = String::new();
                while let Some(&(_, w)) = chars.peek() {
                    if w == '@' || w.is_ascii_alphanumeric() || w == '_' {
                        word.push(w);
                        chars.next();
                    } else {
                        break;
                    }
                }
                if word.eq_ignore_ascii_case("and") {
                    tokens.push(Token::And);
                } else if word.eq_ignore_ascii_case("or") {
                    tokens.push(Token::Or);
                } else if word == CONTAINER_KEY {
                    tokens.push(Token::Container);
                } else {
                    return Err(format!("unexpected word '{word}' at position {at}"));
                }
            }
            other => return Err(format!("unexpected character '{other}' at position {at}")),
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    dialect: Dialect,
    comparisons: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn or_expr(&mut self, depth: usize) -> Result<TagExpr, String> {
        let mut left = self.and_expr(depth)?;
        while self.peek() == Some(&Token::Or) {
            if self.dialect == Dialect::Filter {
                return Err("OR is not supported in a tag filter".into());
            }
            self.next();
            let right = self.and_expr(depth)?;
            left = TagExpr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expr(&mut self, depth: usize) -> Result<TagExpr, String> {
        let mut left = self.primary(depth)?;
        while self.peek() == Some(&Token::And) {
            self.next();
            let right = self.primary(depth)?;
            left = TagExpr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn primary(&mut self, depth: usize) -> Result<TagExpr, String> {
        match self.next() {
            Some(Token::Open) => {
                if self.dialect == Dialect::Filter {
                    return Err("parentheses are not supported in a tag filter".into());
                }
                if depth >= DEPTH_MAX {
                    return Err("the expression is nested too deeply".into());
                }
                let inner = self.or_expr(depth + 1)?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    _ => Err("missing ')'".into()),
                }
            }
            Some(Token::Key(key)) => self.comparison(key),
            Some(Token::Container) if self.dialect == Dialect::Filter => {
                let cmp = self.comparison(CONTAINER_KEY.to_string())?;
                match &cmp {
                    TagExpr::Cmp(c) if c.op == CmpOp::Eq => Ok(cmp),
                    _ => Err("@container can only be compared with '='".into()),
                }
            }
            Some(Token::Container) => Err("@container is not supported in a tag condition".into()),
            Some(other) => Err(format!("expected a quoted tag key, found {other:?}")),
            None => Err("the expression ends early".into()),
        }
    }

    fn comparison(&mut self, key: String) -> Result<TagExpr, String> {
        let op = match self.next() {
            Some(Token::Op(op)) => op,
            _ => return Err(format!("expected an operator after \"{key}\"")),
        };
        if op == CmpOp::Ne && self.dialect == Dialect::Filter {
            return Err("'<>' is not supported in a tag filter".into());
        }
        let value = match self.next() {
            Some(Token::Value(value)) => value,
            _ => return Err(format!("expected a single-quoted value after \"{key}\"")),
        };
        self.comparisons += 1;
        if self.dialect == Dialect::Filter && self.comparisons > FILTER_CONDITIONS_MAX {
            return Err(format!("at most {FILTER_CONDITIONS_MAX} conditions are allowed"));
        }
        Ok(TagExpr::Cmp(Comparison { key, op, value }))
    }
}

/// Parses an expression; the error is a human-readable reason for the 400 answer.
pub fn parse(input: &str, dialect: Dialect) -> Result<TagExpr, String> {
    if input.len() > EXPRESSION_BYTES_MAX {
        return Err("the expression is too long".into());
    }
    let tokens = lex(input)?;
    let mut parser = Parser {
        tokens,
        at: 0,
        dialect,
        comparisons: 0,
    };
    let expr = parser.or_expr(0)?;
    if parser.at != parser.tokens.len() {
        return Err("unexpected text after the expression".into());
    }
    Ok(expr)
}

/// Parses a Find Blobs by Tags `where` expression into its comparisons.
pub fn parse_filter(input: &str) -> Result<Vec<Comparison>, String> {
    let expr = parse(input, Dialect::Filter)?;
    let conjuncts = expr
        .conjuncts()
        .ok_or_else(|| "OR is not supported in a tag filter".to_string())?;
    let out: Vec<Comparison> = conjuncts.into_iter().cloned().collect();
    if out.iter().all(|c| c.key == CONTAINER_KEY) {
        return Err("the expression must compare at least one tag".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn filters() {
        let f = parse_filter("\"project\" = 'lazuli' AND \"n\" >= '10' and @container = 'c1'").unwrap();
        assert_eq!(f.len(), 3);
        assert_eq!(f[1].op, CmpOp::Ge);
        assert_eq!(f[2].key, CONTAINER_KEY);
        for bad in [
            "",
            "project = 'x'",
            "\"p\" = \"x\"",
            "\"p\" = 'x' OR \"q\" = 'y'",
            "\"p\" <> 'x'",
            "(\"p\" = 'x')",
            "\"p\" = 'x' AND",
            "\"p\" == 'x'",
            "\"p\" = 'x",
            "\"p!\" = 'x'",
            "@container > 'c'",
            "@container = 'c'",
            "\"p\" = 'x' \"q\" = 'y'",
        ] {
            assert!(parse_filter(bad).is_err(), "{bad}");
        }
        let eleven = (0..11)
            .map(|i| format!("\"k{i}\" = 'v'"))
            .collect::<Vec<_>>()
            .join(" AND ");
        assert!(parse_filter(&eleven).is_err());
        let ten = (0..10)
            .map(|i| format!("\"k{i}\" = 'v'"))
            .collect::<Vec<_>>()
            .join(" AND ");
        assert_eq!(parse_filter(&ten).unwrap().len(), 10);
    }

    #[test]
    fn conditions() {
        let e = parse("(\"a\" = '1' OR \"b\" <> '2') AND \"c\" < 'm'", Dialect::Condition).unwrap();
        assert!(e.holds(&tags(&[("a", "1"), ("c", "k")])));
        assert!(!e.holds(&tags(&[("a", "1"), ("c", "z")])));
        assert!(e.holds(&tags(&[("b", "3"), ("c", "a")])));
        assert!(!e.holds(&tags(&[("b", "2"), ("c", "a")])));
        assert!(!e.holds(&[]));
        assert!(parse("@container = 'c'", Dialect::Condition).is_err());
        assert!(parse(&"(".repeat(100), Dialect::Condition).is_err());
    }
}
