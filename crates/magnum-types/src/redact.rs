//! Secrets kept out of messages and logs.

/// A URL with its password hidden: `postgres://magnum:***@host/db`.
pub fn url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
            None => url.to_owned(),
        },
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hides_only_the_password() {
        assert_eq!(super::url("amqp://guest:secret@127.0.0.1:5672/%2f"), "amqp://guest:***@127.0.0.1:5672/%2f");
        assert_eq!(super::url("postgres://u:p@h/db"), "postgres://u:***@h/db");
        assert_eq!(super::url("sqlite:///tmp/x.sqlite"), "sqlite:///tmp/x.sqlite");
        assert_eq!(super::url("amqp://user@host/"), "amqp://user@host/");
    }
}
