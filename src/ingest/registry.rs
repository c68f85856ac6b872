//! The layouts a case can name: those shipped in `rules/formats/` (built into the binary,
//! so `proceeds` runs from any folder) and any the case adds with `layouts = [...]`.
//!
//! Adding a shipped layout is one TOML file plus one line in [`SHIPPED`].

use std::collections::BTreeMap;

use super::layout::{Layout, LayoutError};
use crate::case::Case;

/// Shipped layout files: (file name, text).
#[rustfmt::skip]
pub const SHIPPED: &[(&str, &str)] = &[
    ("barclays.toml", include_str!("../../rules/formats/barclays.toml")),
    ("camt.toml", include_str!("../../rules/formats/camt.toml")),
    ("hsbc.toml", include_str!("../../rules/formats/hsbc.toml")),
    ("lloyds.toml", include_str!("../../rules/formats/lloyds.toml")),
    ("monzo.toml", include_str!("../../rules/formats/monzo.toml")),
    ("msb-transfers.toml", include_str!("../../rules/formats/msb-transfers.toml")),
    ("mt940.toml", include_str!("../../rules/formats/mt940.toml")),
    ("nationwide.toml", include_str!("../../rules/formats/nationwide.toml")),
    ("natwest.toml", include_str!("../../rules/formats/natwest.toml")),
    ("ofx.toml", include_str!("../../rules/formats/ofx.toml")),
    ("santander.toml", include_str!("../../rules/formats/santander.toml")),
    ("starling.toml", include_str!("../../rules/formats/starling.toml")),
];

/// The layouts available to a run, by id.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    layouts: BTreeMap<String, Layout>,
}

impl Registry {
    /// The shipped layouts only.
    pub fn shipped() -> Result<Registry, LayoutError> {
        let mut r = Registry::default();
        for (file, text) in SHIPPED {
            let layout = Layout::from_toml(text, &format!("rules/formats/{file}"))?;
            r.add(layout)?;
        }
        Ok(r)
    }

    /// The shipped layouts plus those the case adds.
    pub fn for_case(case: &Case) -> Result<Registry, LayoutError> {
        let mut r = Registry::shipped()?;
        for path in &case.layout_files {
            let text = std::fs::read_to_string(&path.resolved).map_err(|e| LayoutError {
                origin: path.written.clone(),
                message: format!("cannot be read: {e}"),
            })?;
            r.add(Layout::from_toml(&text, &path.written)?)?;
        }
        Ok(r)
    }

    /// Add a layout; ids must be unique.
    pub fn add(&mut self, layout: Layout) -> Result<(), LayoutError> {
        if let Some(existing) = self.layouts.get(&layout.id) {
            return Err(LayoutError {
                origin: layout.origin.clone(),
                message: format!(
                    "layout id {:?} is already defined by {}; give this layout another id",
                    layout.id, existing.origin
                ),
            });
        }
        self.layouts.insert(layout.id.clone(), layout);
        Ok(())
    }

    /// The layout with this id.
    pub fn get(&self, id: &str) -> Option<&Layout> {
        self.layouts.get(id)
    }

    /// All layouts, ordered by id.
    pub fn iter(&self) -> impl Iterator<Item = &Layout> {
        self.layouts.values()
    }

    /// Known ids, for error messages.
    pub fn ids(&self) -> Vec<String> {
        self.layouts.keys().cloned().collect()
    }
}
