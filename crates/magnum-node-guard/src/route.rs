//! A request as the engine's router will see it: the RequestURI the engine hands the plugin is
//! raw, so its path is percent-decoded (the router matches the decoded path), empty segments
//! dropped and the API version prefix (`/v1.41`) removed.

#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub method: String,
    pub segments: Vec<String>,
    pub query: Vec<(String, String)>,
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_version(segment: &str) -> bool {
    segment.len() > 1 && segment.starts_with('v') && segment[1..].chars().all(|c| c.is_ascii_digit() || c == '.')
}

impl Route {
    pub fn parse(method: &str, uri: &str) -> Route {
        let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
        let mut segments: Vec<String> = percent_decode(path).split('/').filter(|s| !s.is_empty()).map(str::to_owned).collect();
        if segments.first().is_some_and(|s| is_version(s)) {
            segments.remove(0);
        }
        let query = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(&k.replace('+', " ")), percent_decode(&v.replace('+', " ")))
            })
            .collect();
        Route { method: method.to_ascii_uppercase(), segments, query }
    }

    /// Every value the query gives `name` (Go's url.Query keeps them all).
    pub fn query_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.query.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn path(&self) -> String {
        format!("/{}", self.segments.join("/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_prefix_and_encoding_do_not_hide_the_route() {
        let r = Route::parse("post", "/v1.41/containers%2Fcreate?name=a%20b");
        assert_eq!(r.method, "POST");
        assert_eq!(r.segments, ["containers", "create"]);
        assert_eq!(r.query, [("name".to_owned(), "a b".to_owned())]);
        assert_eq!(Route::parse("GET", "//swarm/").segments, ["swarm"]);
        assert_eq!(Route::parse("GET", "/version").segments, ["version"]);
    }
}
