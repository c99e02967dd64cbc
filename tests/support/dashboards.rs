//! The dashboards' queries as Grafana sends them: every panel target and template
//! variable of `dashboards/<name>.json`.

use serde_json::Value;

use super::repo;

/// Every dashboard the repository ships.
pub const ALL: [&str; 4] = ["overview", "node", "subnets", "fleet"];

pub struct Panel {
    pub dashboard: String,
    pub title: String,
    pub exprs: Vec<String>,
}

/// A query variable: `label_values(selector, label)`.
pub struct Variable {
    pub dashboard: String,
    pub name: String,
    pub selector: String,
    pub label: String,
}

fn board(name: &str) -> Value {
    let path = repo().join(format!("dashboards/{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

pub fn panels(names: &[&str]) -> Vec<Panel> {
    let mut panels = Vec::new();
    for &name in names {
        for panel in board(name)["panels"].as_array().unwrap() {
            panels.push(Panel {
                dashboard: name.to_owned(),
                title: panel["title"].as_str().unwrap().to_owned(),
                exprs: panel["targets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t["expr"].as_str().unwrap().to_owned())
                    .collect(),
            });
        }
    }
    panels
}

pub fn variables(names: &[&str]) -> Vec<Variable> {
    let mut variables = Vec::new();
    for &name in names {
        for variable in board(name)["templating"]["list"].as_array().unwrap() {
            if variable["type"] != "query" {
                continue;
            }
            let query = variable["definition"].as_str().unwrap();
            let inner = query
                .strip_prefix("label_values(")
                .and_then(|q| q.strip_suffix(')'))
                .unwrap_or_else(|| panic!("{name}: not a label_values query: {query}"));
            let (selector, label) = inner.rsplit_once(',').unwrap_or(("", inner));
            variables.push(Variable {
                dashboard: name.to_owned(),
                name: variable["name"].as_str().unwrap().to_owned(),
                selector: selector.trim().to_owned(),
                label: label.trim().to_owned(),
            });
        }
    }
    variables
}
