//! The configuration reference (docs/configuration.md), generated from the configuration type
//! itself: its keys, their types and doc comments from the JSON Schema that `schemars` derives,
//! their defaults from the defaults serde applies. `idp config-reference` prints it, and a
//! test fails when the committed page no longer matches the type.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use super::Config;

/// The defaults of a configuration that gives only its issuer.
fn defaults() -> Value {
    let mut table = toml::Table::new();
    table.insert("issuer".into(), "https://connexion.example.fr".into());
    let config = Config::from_table(table, std::iter::empty()).expect("the defaults are valid");
    serde_json::to_value(&config).expect("the configuration serializes")
}

/// The defaults of an `[[upstream]]` entry that gives only what is required.
fn upstream_defaults() -> Value {
    let entry: super::UpstreamConfig = toml::from_str(
        "id = \"franceconnect\"\nissuer = \"https://fc.example.fr/api/v2\"\nclient_id = \"x\"",
    )
    .expect("a minimal upstream entry");
    serde_json::to_value(&entry).expect("the entry serializes")
}

/// The schema a `$ref` points to, or `schema` itself.
fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(path) => path
            .strip_prefix("#/$defs/")
            .and_then(|name| root.get("$defs")?.get(name))
            .unwrap_or(schema),
        None => schema,
    }
}

/// A table of the configuration (the top level, `[session]`, `[[upstream]]`…).
fn is_section(root: &Value, schema: &Value) -> bool {
    resolve(root, schema).get("properties").is_some()
}

fn array_items<'a>(root: &'a Value, schema: &'a Value) -> Option<&'a Value> {
    let items = schema.get("items")?;
    is_section(root, items).then(|| resolve(root, items))
}

/// The type a key takes, in TOML words.
fn type_name(root: &Value, schema: &Value) -> String {
    let schema = resolve(root, schema);
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let values: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
        return values.join(" or ");
    }
    if let Some(variants) = schema.get("oneOf").and_then(Value::as_array) {
        let values: Vec<String> = variants
            .iter()
            .filter_map(|v| v.get("const"))
            .map(|v| format!("`{v}`"))
            .collect();
        if !values.is_empty() {
            return values.join(" or ");
        }
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let optional = types.contains(&"null");
    let main = types.iter().find(|t| **t != "null").copied().unwrap_or("");
    let name = match main {
        "string" => "string".to_owned(),
        "integer" => "integer".to_owned(),
        "boolean" => "boolean".to_owned(),
        "array" => {
            let inner = schema
                .get("items")
                .map(|i| type_name(root, i))
                .unwrap_or_default();
            format!("list of {inner}")
        }
        "" => {
            // Option<T> of a non-primitive T: anyOf [T, null]
            let any = schema.get("anyOf").and_then(Value::as_array);
            let inner = any
                .and_then(|a| a.iter().find(|s| s.get("type") != Some(&"null".into())))
                .map(|s| type_name(root, s));
            return inner.map(|i| format!("{i}, optional")).unwrap_or_default();
        }
        other => other.to_owned(),
    };
    if optional {
        format!("{name}, optional")
    } else {
        name
    }
}

/// A default as TOML would write it.
fn toml_value(value: &Value) -> String {
    match value {
        Value::Null => "—".to_owned(),
        Value::String(s) => format!("`{}`", toml::Value::String(s.clone())),
        Value::Array(a) if a.is_empty() => "`[]`".to_owned(),
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(|v| toml_value(v).replace('`', "")).collect();
            format!("`[{}]`", items.join(", "))
        }
        other => format!("`{other}`"),
    }
}

/// One line of doc for a table cell.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// The rows of one table of the configuration, then its sub-tables.
fn write_section(
    out: &mut String,
    root: &Value,
    schema: &Value,
    defaults: Option<&Map<String, Value>>,
    path: &[&str],
    heading: &str,
    intro: Option<&str>,
) {
    let schema = resolve(root, schema);
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let _ = writeln!(out, "## {heading}\n");
    let intro = intro.or_else(|| schema.get("description").and_then(Value::as_str));
    if let Some(text) = intro
        && !path.is_empty()
    {
        let _ = writeln!(out, "{}\n", cell(text));
    }
    let _ = writeln!(
        out,
        "| key | type | default | environment | meaning |\n|---|---|---|---|---|"
    );
    let mut sections = Vec::new();
    for (key, property) in properties {
        if is_section(root, property) {
            sections.push((key.as_str(), property, false));
            continue;
        }
        if array_items(root, property).is_some() {
            sections.push((key.as_str(), property, true));
            continue;
        }
        let default = if required.contains(&key.as_str()) {
            "required".to_owned()
        } else {
            defaults
                .and_then(|d| d.get(key))
                .map(toml_value)
                .unwrap_or_else(|| "—".to_owned())
        };
        let mut env_path: Vec<&str> = path.to_vec();
        env_path.push(key);
        let env = format!("`IDP_{}`", env_path.join("__").to_uppercase());
        let env = if path.contains(&"upstream") {
            "—".to_owned()
        } else {
            env
        };
        let meaning = property
            .get("description")
            .and_then(Value::as_str)
            .map(cell)
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "| `{key}` | {} | {default} | {env} | {meaning} |",
            type_name(root, property)
        );
    }
    out.push('\n');
    for (key, property, repeated) in sections {
        let mut sub_path = path.to_vec();
        sub_path.push(key);
        let name = sub_path.join(".");
        let described = property.get("description").and_then(Value::as_str);
        if repeated {
            let items = array_items(root, property).unwrap_or(property);
            let heading = format!("`[[{name}]]` (repeated)");
            let entry_defaults = (key == "upstream").then(upstream_defaults);
            let entry_defaults = entry_defaults.as_ref().and_then(Value::as_object);
            write_section(
                out,
                root,
                items,
                entry_defaults,
                &sub_path,
                &heading,
                described,
            );
        } else {
            let sub_defaults = defaults.and_then(|d| d.get(key)).and_then(Value::as_object);
            write_section(
                out,
                root,
                property,
                sub_defaults,
                &sub_path,
                &format!("`[{name}]`"),
                described,
            );
        }
    }
}

/// docs/configuration.md.
pub fn markdown() -> String {
    let schema = serde_json::to_value(schemars::schema_for!(Config)).expect("a JSON schema");
    let defaults = defaults();
    let mut out = String::from(
        "# Configuration reference\n\n\
         <!-- generated by `idp config-reference` from idp/src/config: edit the doc comments \
         there, then run `cargo run -- config-reference > docs/configuration.md` -->\n\n\
         The configuration is one TOML file (`idp serve --config FILE`, or `IDP_CONFIG`). Every \
         key can be overridden by an environment variable: `IDP_` and the key's path in capitals, \
         `__` between a table and its key (`IDP_SESSION__IDLE_TIMEOUT_MINUTES=30`); lists and \
         numbers are read as TOML values. A bad value stops the start with a message naming the \
         key; `idp check --config FILE` checks a file without starting. Secrets are given \
         inline, by the environment, or by a file (`*_file` keys), so that they never need to sit \
         in the file itself. `deploy/idp.example.toml` is a commented example.\n\n",
    );
    write_section(
        &mut out,
        &schema,
        &schema,
        defaults.as_object(),
        &[],
        "Top level",
        None,
    );
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_committed_reference_is_the_configuration_types() {
        let committed = include_str!("../../../docs/configuration.md");
        let generated = super::markdown();
        assert!(
            committed == generated,
            "docs/configuration.md is out of date: run \
             `cargo run -- config-reference > docs/configuration.md`"
        );
    }

    #[test]
    fn every_key_has_its_default_and_its_meaning() {
        let text = super::markdown();
        assert!(text.contains("| `issuer` | string | required |"), "{text}");
        assert!(
            text.contains(
                "| `idle_timeout_minutes` | integer | `120` | `IDP_SESSION__IDLE_TIMEOUT_MINUTES` |"
            ),
            "{text}"
        );
        assert!(text.contains("## `[notify.email]`"), "{text}");
        assert!(text.contains("## `[[upstream]]` (repeated)"), "{text}");
        let undocumented: Vec<&str> = text.lines().filter(|l| l.ends_with("|  |")).collect();
        assert!(
            undocumented.is_empty(),
            "keys without a doc comment: {undocumented:?}"
        );
    }
}
