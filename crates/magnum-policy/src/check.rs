//! The check language of oslo.policy: `role:x`, `rule:name`, `field:%(target_attr)s`,
//! `field:'literal'` / `field:True`, `@` (always), `!` (never), combined with `and`, `or`,
//! `not` and parentheses (`not` binds tightest, then `and`, then `or`).

use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Always,
    Never,
    /// The caller has this role (case-insensitive; `%(x)s` taken from the target).
    Role(String),
    /// Another rule, by name.
    Rule(String),
    /// The caller's `field` equals `value` (`%(x)s` taken from the target, else a literal).
    Field {
        field: String,
        value: String,
    },
    And(Vec<Check>),
    Or(Vec<Check>),
    Not(Box<Check>),
}

/// What the caller is: ids as strings, `is_admin` as `True`/`False`, and the roles.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub fields: HashMap<String, String>,
    pub roles: Vec<String>,
}

/// What the caller acts on: attributes by name (`project_id`, `user_id`, ...).
pub type Target = HashMap<String, String>;

/// Resolves `rule:name` references while evaluating.
pub trait Rules {
    fn rule(&self, name: &str) -> Option<&Check>;
}

/// Rule references deeper than this are a loop in the policy, evaluated as false.
const MAX_DEPTH: usize = 32;

impl Check {
    pub fn allows(&self, creds: &Credentials, target: &Target, rules: &dyn Rules) -> bool {
        self.eval(creds, target, rules, 0)
    }

    fn eval(&self, creds: &Credentials, target: &Target, rules: &dyn Rules, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        match self {
            Check::Always => true,
            Check::Never => false,
            Check::Role(r) => match interpolate(r, target) {
                Some(role) => creds.roles.iter().any(|have| have.eq_ignore_ascii_case(&role)),
                None => false,
            },
            Check::Rule(name) => rules.rule(name).is_some_and(|c| c.eval(creds, target, rules, depth + 1)),
            Check::Field { field, value } => {
                let Some(want) = interpolate(value, target) else { return false };
                match literal(field) {
                    // A literal on the left: compare it with the (interpolated) right side.
                    Some(lit) => lit == want,
                    None => creds.fields.get(field).is_some_and(|have| *have == want),
                }
            }
            Check::And(all) => all.iter().all(|c| c.eval(creds, target, rules, depth)),
            Check::Or(any) => any.iter().any(|c| c.eval(creds, target, rules, depth)),
            Check::Not(c) => !c.eval(creds, target, rules, depth),
        }
    }
}

/// `%(name)s` from the target (None when the target lacks it: the check fails, as oslo's does);
/// a quoted or bare literal as itself.
fn interpolate(value: &str, target: &Target) -> Option<String> {
    if let Some(name) = value.strip_prefix("%(").and_then(|v| v.strip_suffix(")s")) {
        return target.get(name).cloned();
    }
    Some(literal(value).unwrap_or_else(|| value.to_owned()))
}

/// `'text'`, `"text"`, `True`, `False` and numbers are literals.
fn literal(s: &str) -> Option<String> {
    let quoted = |q: char| s.len() >= 2 && s.starts_with(q) && s.ends_with(q);
    if quoted('\'') || quoted('"') {
        return Some(s[1..s.len() - 1].to_owned());
    }
    if s == "True" || s == "False" || s.parse::<f64>().is_ok() {
        return Some(s.to_owned());
    }
    None
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    And,
    Or,
    Not,
    Check(Check),
}

fn tokenize(s: &str) -> Result<Vec<Token>, String> {
    let mut out = vec![];
    for word in s.split_whitespace() {
        let mut w = word;
        while let Some(rest) = w.strip_prefix('(') {
            out.push(Token::Open);
            w = rest;
        }
        let mut closes = 0;
        while let Some(rest) = w.strip_suffix(')') {
            // A `%(name)s` ends in `)s`, never in `)`: a trailing `)` always closes a group.
            closes += 1;
            w = rest;
        }
        if !w.is_empty() {
            out.push(match w.to_ascii_lowercase().as_str() {
                "and" => Token::And,
                "or" => Token::Or,
                "not" => Token::Not,
                _ => Token::Check(check_word(w)?),
            });
        }
        out.extend(std::iter::repeat_n(Token::Close, closes));
    }
    Ok(out)
}

fn check_word(w: &str) -> Result<Check, String> {
    match w {
        "@" => return Ok(Check::Always),
        "!" => return Ok(Check::Never),
        _ => {}
    }
    let (kind, value) = w.split_once(':').ok_or_else(|| format!("'{w}' is not a check (expected kind:value, @ or !)"))?;
    if value.is_empty() {
        return Err(format!("'{w}' has nothing after ':'"));
    }
    Ok(match kind {
        "role" => Check::Role(value.to_owned()),
        "rule" => Check::Rule(value.to_owned()),
        "http" | "https" => return Err(format!("'{w}': remote (http) checks are not supported")),
        _ => Check::Field { field: kind.to_owned(), value: value.to_owned() },
    })
}

/// Parses a check string. The empty string allows everyone, as in oslo.policy.
pub fn parse(s: &str) -> Result<Check, String> {
    let tokens = tokenize(s)?;
    if tokens.is_empty() {
        return Ok(Check::Always);
    }
    let mut p = Parser { tokens, at: 0 };
    let c = p.or()?;
    if p.at != p.tokens.len() {
        return Err(format!("unexpected {:?} in '{s}'", p.tokens[p.at]));
    }
    Ok(c)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn or(&mut self) -> Result<Check, String> {
        let mut items = vec![self.and()?];
        while self.peek() == Some(&Token::Or) {
            self.at += 1;
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Check::Or(items) })
    }

    fn and(&mut self) -> Result<Check, String> {
        let mut items = vec![self.not()?];
        while self.peek() == Some(&Token::And) {
            self.at += 1;
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Check::And(items) })
    }

    fn not(&mut self) -> Result<Check, String> {
        if self.peek() == Some(&Token::Not) {
            self.at += 1;
            return Ok(Check::Not(Box::new(self.not()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Check, String> {
        let t = self.tokens.get(self.at).cloned().ok_or("the rule ends where a check was expected")?;
        self.at += 1;
        match t {
            Token::Check(c) => Ok(c),
            Token::Open => {
                let inner = self.or()?;
                if self.peek() != Some(&Token::Close) {
                    return Err("a '(' is not closed".into());
                }
                self.at += 1;
                Ok(inner)
            }
            other => Err(format!("unexpected {other:?} where a check was expected")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Named(HashMap<String, Check>);
    impl Rules for Named {
        fn rule(&self, name: &str) -> Option<&Check> {
            self.0.get(name)
        }
    }

    fn creds(project: &str, user: &str, roles: &[&str]) -> Credentials {
        let admin = roles.contains(&"admin");
        Credentials {
            fields: HashMap::from([
                ("project_id".to_owned(), project.to_owned()),
                ("user_id".to_owned(), user.to_owned()),
                ("is_admin".to_owned(), if admin { "True" } else { "False" }.to_owned()),
            ]),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        }
    }

    fn target(project: &str, user: &str) -> Target {
        HashMap::from([("project_id".to_owned(), project.to_owned()), ("user_id".to_owned(), user.to_owned())])
    }

    #[test]
    fn parses_precedence_and_parentheses() {
        let c = parse("role:a or role:b and not role:c").expect("parses");
        assert_eq!(
            c,
            Check::Or(vec![
                Check::Role("a".into()),
                Check::And(vec![Check::Role("b".into()), Check::Not(Box::new(Check::Role("c".into())))])
            ])
        );
        let c = parse("(role:a or role:b) and project_id:%(project_id)s").expect("parses");
        assert!(matches!(c, Check::And(ref v) if matches!(v[0], Check::Or(_))));
        assert_eq!(parse("((@))").expect("parses"), Check::Always);
        assert_eq!(parse("").expect("parses"), Check::Always);
        assert_eq!(parse("!").expect("parses"), Check::Never);
        for bad in ["role:", "(role:a", "role:a)", "and role:a", "role:a or", "nocolon", "http://x:y"] {
            assert!(parse(bad).is_err(), "{bad:?} must not parse");
        }
    }

    #[test]
    fn evaluates_against_credentials_and_target() {
        let rules = Named(HashMap::from([
            ("context_is_admin".to_owned(), parse("role:admin").expect("ok")),
            ("owner".to_owned(), parse("project_id:%(project_id)s").expect("ok")),
            ("loop".to_owned(), parse("rule:loop").expect("ok")),
        ]));
        let member = creds("p1", "u1", &["member"]);
        let check = |s: &str, c: &Credentials, t: &Target| parse(s).expect("parses").allows(c, t, &rules);
        assert!(check("rule:owner", &member, &target("p1", "u9")));
        assert!(!check("rule:owner", &member, &target("p2", "u1")));
        assert!(check("role:MEMBER", &member, &target("p2", "u1")), "roles compare case-insensitively");
        assert!(check("is_admin:True or rule:owner", &creds("p9", "a", &["admin"]), &target("p1", "u1")));
        assert!(!check("is_admin:True", &member, &target("p1", "u1")));
        assert!(check("user_id:%(user_id)s and not role:reader", &member, &target("p1", "u1")));
        assert!(!check("domain_id:%(trustee_domain_id)s", &member, &target("p1", "u1")), "a missing target attribute fails");
        assert!(check("not domain_id:%(trustee_domain_id)s", &member, &target("p1", "u1")));
        assert!(check("'p1':%(project_id)s", &member, &target("p1", "u1")), "a literal on the left");
        assert!(!check("rule:nope", &member, &target("p1", "u1")), "an unknown rule denies");
        assert!(!check("rule:loop", &member, &target("p1", "u1")), "a loop denies instead of overflowing");
        assert!(check("role:%(role)s", &member, &HashMap::from([("role".to_owned(), "member".to_owned())])));
    }
}
