//! `?layers=`: a request that draws only some of the layers its template
//! declares.

use crate::request::{RenderRequest, RequestError};
use crate::template::Templates;

/// `request` drawing only the layers `picked`, which its template must
/// declare in `templates`.
pub(super) fn pick(
    templates: &Templates,
    request: RenderRequest,
    picked: &[String],
) -> Result<RenderRequest, RequestError> {
    let declared = templates.layers(request.template());
    if let Some(name) = picked
        .iter()
        .find(|p| !declared.iter().any(|l| l.name == **p))
    {
        let names: Vec<&str> = declared.iter().map(|l| l.name.as_str()).collect();
        let known = if names.is_empty() {
            format!("template `{}` declares no layers", request.template())
        } else {
            format!("layers: {}", names.join(", "))
        };
        let name = crate::text::ellipsize(name, 40);
        return Err(RequestError::UnknownLayer { name, known });
    }
    Ok(request.with_layers(picked))
}
