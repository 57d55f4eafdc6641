//! JSON guards shared by token and key-set parsing.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Whether `json` nests arrays and objects at most `max` deep. A linear scan run
/// before parsing, so hostile nesting never reaches the recursive parser.
pub(crate) fn depth_within(json: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in json {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return false;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

/// A JSON object that refuses duplicate member names at every depth, which parsers
/// disagree on (first wins vs last wins) and attackers exploit: RFC 7515 §5.2 and
/// RFC 7519 §7.2 require the JSON to be unambiguous. Nesting is bounded beforehand by
/// [`depth_within`], so the recursion here is too.
pub(crate) struct UniqueObject(pub(crate) Map<String, Value>);

/// Any JSON value, refusing duplicate member names in every object it holds.
struct UniqueValue(Value);

struct UniqueVisitor;

impl<'de> Visitor<'de> for UniqueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON without duplicate member names")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(access.size_hint().unwrap_or(0).min(64));
        while let Some(UniqueValue(v)) = access.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        // Members first, then one duplicate check and a map built at its final size:
        // cheaper than a lookup before every insert, whichever map serde_json uses.
        let mut members = Vec::new();
        while let Some((k, UniqueValue(v))) = access.next_entry::<String, UniqueValue>()? {
            members.push((k, v));
        }
        if has_duplicate_names(&members) {
            return Err(serde::de::Error::custom("duplicate member"));
        }
        let mut map = Map::with_capacity(members.len());
        map.extend(members);
        Ok(Value::Object(map))
    }
}

/// Whether two members share a name: pairwise for the handful of members a token
/// has, sorted beyond that.
fn has_duplicate_names(members: &[(String, Value)]) -> bool {
    if members.len() <= 16 {
        return members.iter().enumerate().any(|(i, (a, _))| members.iter().skip(i + 1).any(|(b, _)| a == b));
    }
    let mut names: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    names.windows(2).any(|w| w.first() == w.last())
}

impl<'de> Deserialize<'de> for UniqueValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueVisitor).map(UniqueValue)
    }
}

impl<'de> Deserialize<'de> for UniqueObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match d.deserialize_map(UniqueVisitor)? {
            Value::Object(map) => Ok(UniqueObject(map)),
            _ => Err(serde::de::Error::custom("expected a JSON object")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth() {
        assert!(depth_within(br#"{"a":[1,{"b":2}]}"#, 3));
        assert!(!depth_within(br#"{"a":[1,{"b":2}]}"#, 2));
        assert!(depth_within(br#"{"a":"[[[[[[\"[[["}"#, 1), "brackets inside strings do not count");
    }

    #[test]
    fn duplicates_refused_at_every_depth() {
        let parse = |s: &str| serde_json::from_str::<UniqueObject>(s).map(|o| Value::Object(o.0));
        let ok = parse(r#"{"a":{"b":[1,{"c":2.5,"d":null,"e":true}]},"f":-3}"#).unwrap();
        assert_eq!(ok, serde_json::json!({"a":{"b":[1,{"c":2.5,"d":null,"e":true}]},"f":-3}));
        assert!(parse(r#"{"a":1,"a":2}"#).is_err());
        assert!(parse(r#"{"a":{"b":1,"b":2}}"#).is_err());
        assert!(parse(r#"{"a":[{"b":1,"b":2}]}"#).is_err());
        assert!(parse("[1]").is_err(), "top level must be an object");
        // Past 16 members the check sorts the names; both ways find a duplicate anywhere.
        for n in [3, 16, 17, 40] {
            let names: Vec<String> = (0..n).map(|i| format!("\"m{i}\":{i}")).collect();
            assert!(parse(&format!("{{{}}}", names.join(","))).is_ok(), "{n} distinct members");
            for dup in [0, n / 2, n - 1] {
                let json = format!("{{{},\"m{dup}\":0}}", names.join(","));
                assert!(parse(&json).is_err(), "{n} members, m{dup} twice");
            }
        }
    }
}
