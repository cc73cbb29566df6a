//! What the audit log records of a change: the fields that differ between
//! the resource before and after, as `{path: {before, after}}`, with every
//! secret redacted (pure).

use serde_json::{Map, Value};

const REDACTED: &str = "[redacted]";

/// A key whose value is a secret, whatever the resource.
fn is_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    (k.contains("password") || k.contains("secret") || k.contains("token")) && !k.ends_with("set")
}

/// Flattens `value` into `out` by dotted path; arrays are compared whole.
fn flatten(prefix: &str, value: &Value, out: &mut Map<String, Value>) {
    match value {
        Value::Object(fields) => {
            for (key, v) in fields {
                let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                if is_secret(key) {
                    if !v.is_null() {
                        out.insert(path, Value::String(REDACTED.into()));
                    }
                } else {
                    flatten(&path, v, out);
                }
            }
        }
        other => {
            out.insert(prefix.to_string(), redact(other));
        }
    }
}

/// A copy with the value of every secret key redacted.
pub fn redact(value: &Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .filter(|(k, v)| !(is_secret(k) && v.is_null()))
                .map(|(k, v)| (k.clone(), if is_secret(k) { Value::String(REDACTED.into()) } else { redact(v) }))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        other => other.clone(),
    }
}

/// A diff made safe to store: a change of a secret field (its path names
/// a secret) keeps only the fact that it changed; any secret inside a value
/// is redacted.
pub fn redact_diff(diff: &Value) -> Value {
    match diff {
        Value::Object(paths) => Value::Object(
            paths
                .iter()
                .map(|(path, change)| {
                    let secret = path.rsplit('.').next().is_some_and(is_secret);
                    let safe = if secret {
                        serde_json::json!({"before": change.get("before").filter(|v| !v.is_null()).map(|_| REDACTED), "after": change.get("after").filter(|v| !v.is_null()).map(|_| REDACTED)})
                    } else {
                        redact(change)
                    };
                    (path.clone(), safe)
                })
                .collect(),
        ),
        other => redact(other),
    }
}

/// The fields that differ, `{path: {"before": .., "after": ..}}` (a side
/// without the field has null); `meta` (versions, times) is left out.
pub fn diff(before: &Value, after: &Value) -> Value {
    let (mut b, mut a) = (Map::new(), Map::new());
    flatten("", before, &mut b);
    flatten("", after, &mut a);
    let mut out = Map::new();
    let paths: std::collections::BTreeSet<&String> = b.keys().chain(a.keys()).collect();
    for path in paths {
        if path == "meta" || path.starts_with("meta.") {
            continue;
        }
        let (x, y) = (b.get(path).unwrap_or(&Value::Null), a.get(path).unwrap_or(&Value::Null));
        // A secret given anew reads the same redacted: it changed all the same.
        let secret_given = y.as_str() == Some(REDACTED);
        if x != y || secret_given {
            out.insert(path.clone(), serde_json::json!({ "before": x, "after": y }));
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_changed_fields_are_listed_and_secrets_never_in_clear() {
        let before = json!({"name": "A", "connection": {"servers": ["ldap://a"], "bindPassword": null, "bindPasswordSet": true}, "meta": {"version": 1}});
        let after = json!({"name": "B", "connection": {"servers": ["ldap://a", "ldap://b"], "bindPassword": "hunter2-secret", "bindPasswordSet": true}, "meta": {"version": 2}});
        let d = diff(&before, &after);
        assert_eq!(d["name"], json!({"before": "A", "after": "B"}));
        assert_eq!(d["connection.servers"]["after"], json!(["ldap://a", "ldap://b"]));
        assert_eq!(d["connection.bindPassword"]["after"], "[redacted]");
        assert!(d.get("meta.version").is_none() && d.get("connection.bindPasswordSet").is_none(), "{d}");
        assert!(!d.to_string().contains("hunter2"), "{d}");
        let given = json!({"connection.bindPassword": {"before": null, "after": "hunter2"}, "name": {"before": "a", "after": {"token": "t0k"}}});
        let safe = redact_diff(&given);
        assert_eq!(safe["connection.bindPassword"], json!({"before": null, "after": "[redacted]"}));
        assert!(!safe.to_string().contains("hunter2") && !safe.to_string().contains("t0k"), "{safe}");
        let nested = redact(&json!({"servers": [{"url": "u", "bindPassword": "p4ss"}], "secret": "s"}));
        assert!(!nested.to_string().contains("p4ss") && !nested.to_string().contains("\"s\""), "{nested}");
    }
}
