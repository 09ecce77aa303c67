//! The structure tree as nested lists, for a template language without recursion.

use crate::directory::admin_structures::StructureInfo;

use std::collections::HashMap;

/// One step of the nested rendering of the tree (askama has no recursion): `kind` is "open"
/// (`<ul>`), "item" (`<li>` and link), "end" (`</li>`) or "close" (`</ul>`).
pub struct TreeEvent {
    pub kind: &'static str,
    pub id: i64,
    pub name: String,
    pub current: bool,
    pub children: i64,
}

impl TreeEvent {
    fn mark(kind: &'static str) -> TreeEvent {
        TreeEvent {
            kind,
            id: 0,
            name: String::new(),
            current: false,
            children: 0,
        }
    }
}

/// Turns the path-ordered nodes into nested-list events, children sorted by name.
pub fn tree_events(
    nodes: &[StructureInfo],
    selected: Option<i64>,
    counts: &HashMap<i64, i64>,
) -> Vec<TreeEvent> {
    let ids: Vec<i64> = nodes.iter().map(|n| n.id).collect();
    let mut children: HashMap<Option<i64>, Vec<&StructureInfo>> = HashMap::new();
    for n in nodes {
        let parent = n.parent_id.filter(|p| ids.contains(p));
        children.entry(parent).or_default().push(n);
    }
    for list in children.values_mut() {
        list.sort_by(|a, b| {
            a.display_name()
                .to_lowercase()
                .cmp(&b.display_name().to_lowercase())
        });
    }
    fn walk(
        parent: Option<i64>,
        children: &HashMap<Option<i64>, Vec<&StructureInfo>>,
        selected: Option<i64>,
        counts: &HashMap<i64, i64>,
        out: &mut Vec<TreeEvent>,
        guard: usize,
    ) {
        let Some(list) = children.get(&parent) else {
            return;
        };
        if guard > 64 {
            return;
        }
        out.push(TreeEvent::mark("open"));
        for n in list {
            out.push(TreeEvent {
                kind: "item",
                id: n.id,
                name: n.display_name().to_string(),
                current: Some(n.id) == selected,
                children: counts.get(&n.id).copied().unwrap_or(0),
            });
            walk(Some(n.id), children, selected, counts, out, guard + 1);
            out.push(TreeEvent::mark("end"));
        }
        out.push(TreeEvent::mark("close"));
    }
    let mut out = Vec::new();
    walk(None, &children, selected, counts, &mut out, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: i64, parent: Option<i64>, path: &str, name: &str) -> StructureInfo {
        StructureInfo {
            id,
            parent_id: parent,
            path: path.into(),
            short_name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn tree_events_nest_children_sorted_by_name() {
        let nodes = vec![
            node(2, None, "/2/", "mairie"),
            node(3, Some(2), "/2/3/", "ccas"),
            node(5, Some(2), "/2/5/", "bibliothèque"),
            node(9, Some(7), "/7/8/9/", "orphelin"),
        ];
        let counts = HashMap::from([(2, 2)]);
        let kinds: Vec<String> = tree_events(&nodes, Some(3), &counts)
            .iter()
            .map(|e| match e.kind {
                "item" => format!("{}{}", e.name, if e.current { "*" } else { "" }),
                k => k.to_string(),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "open",
                "mairie",
                "open",
                "bibliothèque",
                "end",
                "ccas*",
                "end",
                "close",
                "end",
                "orphelin",
                "end",
                "close"
            ]
        );
    }
}
