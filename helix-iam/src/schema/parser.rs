//! The text format of the relationship schema: a lexer and a recursive-descent parser that
//! produce an unresolved syntax tree with line numbers.

use super::SchemaError;

/// A parsed `type` block.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TypeAst {
    pub name: String,
    pub line: usize,
    pub members: Vec<MemberAst>,
}

/// One line of a `type` block.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum MemberAst {
    /// `relation name: user | team#member | folder`
    Relation {
        name: String,
        line: usize,
        subjects: Vec<(String, Option<String>)>,
    },
    /// `permission name = expr`
    Permission {
        name: String,
        line: usize,
        expr: ExprAst,
    },
    /// `bind docs.documents.read, docs.documents.list = view`
    Bind {
        permissions: Vec<String>,
        relation: String,
        line: usize,
    },
}

/// A rewrite expression, names unresolved.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ExprAst {
    /// Another relation of the same object.
    Name(String, usize),
    /// `tupleset->relation`.
    Arrow(String, String, usize),
    /// `a + b`.
    Union(Box<ExprAst>, Box<ExprAst>),
    /// `a & b`.
    Inter(Box<ExprAst>, Box<ExprAst>),
    /// `a - b`.
    Excl(Box<ExprAst>, Box<ExprAst>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Sym(&'static str),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: usize,
    col: usize,
}

const KEYWORDS: [&str; 4] = ["type", "relation", "permission", "bind"];

fn lex(module: &str, text: &str) -> Result<Vec<Token>, SchemaError> {
    let mut out = Vec::new();
    for (ln, line) in text.lines().enumerate() {
        let line_no = ln + 1;
        let code = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        let bytes = code.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i];
            let col = i + 1;
            if c.is_ascii_whitespace() {
                i += 1;
                continue;
            }
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' {
                let start = i;
                while i < bytes.len()
                    && (bytes[i].is_ascii_lowercase()
                        || bytes[i].is_ascii_digit()
                        || bytes[i] == b'_'
                        || bytes[i] == b'.')
                {
                    i += 1;
                }
                out.push(Token {
                    tok: Tok::Word(code[start..i].to_owned()),
                    line: line_no,
                    col,
                });
                continue;
            }
            if c == b'-' && bytes.get(i + 1) == Some(&b'>') {
                out.push(Token {
                    tok: Tok::Sym("->"),
                    line: line_no,
                    col,
                });
                i += 2;
                continue;
            }
            let sym = match c {
                b'{' => "{",
                b'}' => "}",
                b':' => ":",
                b'|' => "|",
                b'=' => "=",
                b'+' => "+",
                b'&' => "&",
                b'-' => "-",
                b'(' => "(",
                b')' => ")",
                b',' => ",",
                b'#' => "#",
                _ => {
                    let shown = code[i..].chars().next().unwrap_or('?');
                    let hint = if shown.is_ascii_uppercase() {
                        " (names are lowercase)"
                    } else {
                        ""
                    };
                    return Err(SchemaError::Parse {
                        module: module.to_owned(),
                        line: line_no,
                        col,
                        message: format!("unexpected character `{shown}`{hint}"),
                    });
                }
            };
            out.push(Token {
                tok: Tok::Sym(sym),
                line: line_no,
                col,
            });
            i += 1;
        }
    }
    Ok(out)
}

struct Parser<'a> {
    module: &'a str,
    toks: Vec<Token>,
    pos: usize,
    last_line: usize,
}

impl Parser<'_> {
    fn err(&self, message: String) -> SchemaError {
        let (line, col) = match self.toks.get(self.pos) {
            Some(t) => (t.line, t.col),
            None => (self.last_line, 0),
        };
        SchemaError::Parse {
            module: self.module.to_owned(),
            line,
            col,
            message,
        }
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    fn line(&self) -> usize {
        self.toks.get(self.pos).map_or(self.last_line, |t| t.line)
    }

    fn found(&self) -> String {
        match self.peek() {
            Some(Tok::Word(w)) => format!("`{w}`"),
            Some(Tok::Sym(s)) => format!("`{s}`"),
            None => "the end of the schema".to_owned(),
        }
    }

    fn eat_sym(&mut self, s: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Sym(x)) if *x == s) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_sym(&mut self, s: &'static str) -> Result<(), SchemaError> {
        if self.eat_sym(s) {
            Ok(())
        } else {
            Err(self.err(format!("expected `{s}`, found {}", self.found())))
        }
    }

    fn is_keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w == k)
    }

    /// A word; `what` names it in errors.
    fn word(&mut self, what: &str) -> Result<String, SchemaError> {
        match self.peek() {
            Some(Tok::Word(w)) => {
                let w = w.clone();
                self.pos += 1;
                Ok(w)
            }
            _ => Err(self.err(format!("expected {what}, found {}", self.found()))),
        }
    }

    /// A name: `[a-z][a-z0-9_]*`, not a keyword.
    fn name(&mut self, what: &str) -> Result<String, SchemaError> {
        let at = self.pos;
        let w = self.word(what)?;
        if !crate::model::valid_name(&w) || KEYWORDS.contains(&w.as_str()) {
            self.pos = at;
            return Err(self.err(format!(
                "expected {what} (a name matching [a-z][a-z0-9_]*, not a keyword), found `{w}`"
            )));
        }
        Ok(w)
    }

    fn schema(&mut self) -> Result<Vec<TypeAst>, SchemaError> {
        let mut types = Vec::new();
        while self.peek().is_some() {
            if !self.is_keyword("type") {
                return Err(self.err(format!("expected `type`, found {}", self.found())));
            }
            let line = self.line();
            self.pos += 1;
            let name = self.name("a type name")?;
            self.expect_sym("{")?;
            let mut members = Vec::new();
            loop {
                if self.eat_sym("}") {
                    break;
                }
                members.push(self.member()?);
            }
            types.push(TypeAst {
                name,
                line,
                members,
            });
        }
        Ok(types)
    }

    fn member(&mut self) -> Result<MemberAst, SchemaError> {
        let line = self.line();
        if self.is_keyword("relation") {
            self.pos += 1;
            let name = self.name("a relation name")?;
            self.expect_sym(":")?;
            let mut subjects = vec![self.subject_type()?];
            while self.eat_sym("|") {
                subjects.push(self.subject_type()?);
            }
            Ok(MemberAst::Relation {
                name,
                line,
                subjects,
            })
        } else if self.is_keyword("permission") {
            self.pos += 1;
            let name = self.name("a permission name")?;
            self.expect_sym("=")?;
            let expr = self.expr()?;
            Ok(MemberAst::Permission { name, line, expr })
        } else if self.is_keyword("bind") {
            self.pos += 1;
            let mut permissions = vec![self.word("a catalog permission")?];
            while self.eat_sym(",") {
                permissions.push(self.word("a catalog permission")?);
            }
            self.expect_sym("=")?;
            let relation = self.name("a relation or permission name")?;
            Ok(MemberAst::Bind {
                permissions,
                relation,
                line,
            })
        } else {
            Err(self.err(format!(
                "expected `relation`, `permission`, `bind` or `}}`, found {}",
                self.found()
            )))
        }
    }

    fn subject_type(&mut self) -> Result<(String, Option<String>), SchemaError> {
        let t = self.name("a subject type")?;
        if self.eat_sym("#") {
            let r = self.name("a relation name")?;
            Ok((t, Some(r)))
        } else {
            Ok((t, None))
        }
    }

    fn expr(&mut self) -> Result<ExprAst, SchemaError> {
        let mut left = self.term()?;
        loop {
            if self.eat_sym("+") {
                left = ExprAst::Union(Box::new(left), Box::new(self.term()?));
            } else if self.eat_sym("&") {
                left = ExprAst::Inter(Box::new(left), Box::new(self.term()?));
            } else if self.eat_sym("-") {
                left = ExprAst::Excl(Box::new(left), Box::new(self.term()?));
            } else {
                return Ok(left);
            }
        }
    }

    fn term(&mut self) -> Result<ExprAst, SchemaError> {
        if self.eat_sym("(") {
            let e = self.expr()?;
            self.expect_sym(")")?;
            return Ok(e);
        }
        let line = self.line();
        let n = self.name("a relation name or `(`")?;
        if self.eat_sym("->") {
            let r = self.name("a relation name after `->`")?;
            Ok(ExprAst::Arrow(n, r, line))
        } else {
            Ok(ExprAst::Name(n, line))
        }
    }
}

/// Parses one module's fragment.
pub(crate) fn parse(module: &str, text: &str) -> Result<Vec<TypeAst>, SchemaError> {
    let toks = lex(module, text)?;
    let last_line = text.lines().count().max(1);
    Parser {
        module,
        toks,
        pos: 0,
        last_line,
    }
    .schema()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_of(e: SchemaError) -> usize {
        match e {
            SchemaError::Parse { line, .. } => line,
            other => panic!("not a parse error: {other}"),
        }
    }

    #[test]
    fn parses_every_member_kind() {
        let t = parse(
            "docs",
            "// documents\ntype document {\n  relation parent: folder\n  relation viewer: user | team#member\n  permission view = (viewer + parent->view) - banned & x\n  bind docs.documents.read, docs.documents.list = view\n}\n",
        )
        .unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].name, "document");
        assert_eq!(t[0].line, 2);
        assert_eq!(t[0].members.len(), 4);
        match &t[0].members[1] {
            MemberAst::Relation { subjects, line, .. } => {
                assert_eq!(*line, 4);
                assert_eq!(subjects[1], ("team".into(), Some("member".into())));
            }
            other => panic!("{other:?}"),
        }
        match &t[0].members[2] {
            MemberAst::Permission { expr, .. } => {
                // Left-associative, equal precedence: ((viewer + parent->view) - banned) & x
                assert!(matches!(expr, ExprAst::Inter(l, _) if matches!(**l, ExprAst::Excl(..))));
            }
            other => panic!("{other:?}"),
        }
        match &t[0].members[3] {
            MemberAst::Bind { permissions, .. } => assert_eq!(permissions.len(), 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn one_line_form_parses() {
        let t = parse(
            "m",
            "type document { relation parent: folder  relation viewer: user | team#member  permission view = viewer + parent->view - banned  bind docs.documents.read = view }",
        )
        .unwrap();
        assert_eq!(t[0].members.len(), 4);
    }

    #[test]
    fn errors_carry_line_numbers() {
        assert_eq!(
            line_of(parse("m", "type a {\n relation b user\n}").unwrap_err()),
            2
        );
        assert_eq!(
            line_of(parse("m", "type a {\n\n relation B: user\n}").unwrap_err()),
            3
        );
        assert_eq!(
            line_of(parse("m", "type a {\n permission p = \n}").unwrap_err()),
            3
        );
        assert_eq!(
            line_of(parse("m", "type a {\n relation r: user\n").unwrap_err()),
            2
        );
        assert_eq!(line_of(parse("m", "\n\nfoo").unwrap_err()), 3);
        assert_eq!(
            line_of(parse("m", "type a { relation type: user }").unwrap_err()),
            1
        );
        assert_eq!(
            line_of(parse("m", "type a {\n permission p = (b + c\n}").unwrap_err()),
            3
        );
        assert_eq!(
            line_of(parse("m", "type a {\n relation r: user ! \n}").unwrap_err()),
            2
        );
        let msg = parse("docs", "type a {\n relation r user\n}")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("docs") && msg.contains("line 2"), "{msg}");
    }
}
