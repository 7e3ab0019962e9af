//! How a [`Context`] looks from inside a template. `data` is a view in
//! which every source and field exists: a source the spot does not have, or
//! a field it does not define, reads as `none`, like a field that found
//! nothing. So one template can serve spots with different sources.

use std::collections::BTreeMap;
use std::sync::Arc;

use minijinja::value::{Enumerator, Object, Value};

use super::Context;

/// The value a template is filled with.
pub(super) fn context(ctx: &Context) -> Value {
    let data: BTreeMap<String, Value> = ctx
        .data
        .iter()
        .map(|(source, fields)| {
            let fields = fields
                .iter()
                .map(|(k, v)| (k.clone(), Value::from_serialize(v)))
                .collect();
            (source.clone(), Value::from_object(Fields(fields)))
        })
        .collect();
    minijinja::context! {
        spot => Value::from_serialize(&ctx.spot),
        data => Value::from_object(Sources(data)),
        errors => Value::from_serialize(&ctx.errors),
        now => ctx.now.clone(),
        rendered_at => ctx.rendered_at.clone(),
        reason => ctx.reason.clone(),
        headline => ctx.headline.clone(),
        frame => Value::from_serialize(&ctx.frame),
        layers => Value::from_serialize(&ctx.layers),
        shown_layers => Value::from_serialize(&ctx.shown_layers),
        inks => Value::from_serialize(&ctx.inks),
        device => Value::from_serialize(&ctx.device),
        _recent => Value::from_object(super::history::RecentObj(
            ctx.recent.clone().unwrap_or_default(),
        )),
    }
}

/// `data`: every source, an empty one for any name the spot lacks.
#[derive(Debug)]
struct Sources(BTreeMap<String, Value>);

impl Object for Sources {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        Some(
            self.0
                .get(name)
                .cloned()
                .unwrap_or_else(|| Value::from_object(Fields(BTreeMap::new()))),
        )
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let keys: Vec<Value> = self.0.keys().map(|k| Value::from(k.as_str())).collect();
        Enumerator::Values(keys)
    }
}

/// `data.<source>`: its fields, `none` for any name it lacks.
#[derive(Debug)]
struct Fields(BTreeMap<String, Value>);

impl Object for Fields {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        Some(self.0.get(name).cloned().unwrap_or(Value::from(())))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let keys: Vec<Value> = self.0.keys().map(|k| Value::from(k.as_str())).collect();
        Enumerator::Values(keys)
    }
}
