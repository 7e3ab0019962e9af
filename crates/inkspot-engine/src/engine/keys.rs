//! Store keys, remembered per spot and output: building one hashes the
//! output and formats strings, too slow to repeat on every cache hit. The
//! memo belongs to one set of templates, since keys carry their version, so
//! a reload starts a new memo and no old key outlives its templates.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use arc_swap::ArcSwap;

use crate::render::Output;
use crate::request::RenderRequest;
use crate::store::Key;
use crate::template::Templates;

/// The most keys remembered; past it the memo starts again, so odd sizes
/// asked once cannot grow it without bound.
const MAX_KEYS: usize = 4096;

/// What a key depends on besides the templates.
type Id = (usize, Output, Option<Arc<[String]>>);

struct Memo {
    templates: Arc<Templates>,
    keys: RwLock<HashMap<Id, Key>>,
}

/// The store key of `request` drawn with `templates`: the spot's slug, and
/// the output's variant with the template's version, so an edited template
/// makes new keys.
pub fn store_key(request: &RenderRequest, templates: &Templates) -> Key {
    // A screenshot spot's "template" is its page and options.
    let page = request.spot.screenshot.as_ref().map(|shot| {
        let described = serde_json::to_string(shot).unwrap_or_default();
        blake3::hash(described.as_bytes()).to_hex()[..16].to_string()
    });
    // A mashup's is its layout and parts, drawn by every template's
    // version: an edited part template (or error template) makes new keys.
    let page = page.or_else(|| {
        let mashup = request.spot.mashup.as_ref()?;
        let described = format!(
            "{}|{}|{}|{}",
            mashup.layout.name(),
            mashup.spots.join("|"),
            mashup.gutter,
            templates.all_versions()
        );
        Some(blake3::hash(described.as_bytes()).to_hex()[..16].to_string())
    });
    let version = page
        .as_deref()
        .or_else(|| templates.version(request.template()))
        .unwrap_or("none");
    let mut variant = format!("{}-{version}", request.output.variant());
    if let Some(layers) = &request.layers {
        let hash = blake3::hash(layers.join(",").as_bytes()).to_hex();
        variant.push_str("-l");
        variant.push_str(&hash[..8]);
    }
    Key::new(&request.spot.slug(), &variant)
}

/// Keys by spot and output, for the templates in force.
pub(super) struct Keys(ArcSwap<Memo>);

impl Keys {
    pub fn new(templates: Arc<Templates>) -> Self {
        Self(ArcSwap::from_pointee(Memo {
            templates,
            keys: RwLock::new(HashMap::new()),
        }))
    }

    /// The key of `request` drawn with `templates`.
    pub fn key(&self, request: &RenderRequest, templates: Arc<Templates>) -> Key {
        let mut memo = self.0.load_full();
        if !Arc::ptr_eq(&memo.templates, &templates) {
            let fresh = Arc::new(Memo {
                templates: templates.clone(),
                keys: RwLock::new(HashMap::new()),
            });
            self.0.store(fresh.clone());
            memo = fresh;
        }
        let id = (request.index, request.output, request.layers.clone());
        if let Some(key) = memo
            .keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
        {
            return key.clone();
        }
        let key = store_key(request, &templates);
        let mut keys = memo.keys.write().unwrap_or_else(PoisonError::into_inner);
        if keys.len() >= MAX_KEYS {
            keys.clear();
        }
        keys.insert(id, key.clone());
        key
    }
}
