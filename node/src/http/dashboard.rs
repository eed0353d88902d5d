//! The dashboard: server-rendered pages over the application layer.
//! (Being built: see issue 19.)

use crate::app::App;

/// The dashboard's routes.
pub fn routes() -> axum::Router<App> {
    axum::Router::new()
}
