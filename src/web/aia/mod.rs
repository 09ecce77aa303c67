//! The "Annuaire des identités et des accès" (docs/aia.md): tabs UTILISATEURS / STRUCTURES /
//! APPLICATIONS, the profile and the journal. One file per screen; every handler builds a
//! [`Viewer`] and asks `directory::access` before touching an object. Objects outside the
//! viewer's reach answer 404 (their existence is not revealed), forbidden actions 403.

pub mod apps;
pub mod assign;
pub mod csv_export;
pub mod extract;
pub mod form;
pub mod form_page;
pub mod home;
pub mod journal;
pub mod photo;
pub mod profile;
pub mod structure_field;
pub mod structures;
pub mod users;

use super::error::WebError;
use crate::directory::access::Viewer;
use crate::state::Gateway;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Gateway>> {
    Router::new()
        .route("/aia", get(home::home))
        .route("/aia/profil", get(profile::profile))
        .route(
            "/aia/profil/photo",
            post(profile::upload_photo).layer(axum::extract::DefaultBodyLimit::max(
                photo::MAX_UPLOAD + 64 * 1024,
            )),
        )
        .route("/aia/profil/photo/supprimer", post(profile::delete_photo))
        .route("/aia/photo/{id}", get(profile::photo))
        .route("/aia/utilisateurs", get(users::list))
        .route("/aia/utilisateurs/export.csv", get(users::export))
        .route(
            "/aia/utilisateurs/nouveau",
            get(users::new_form)
                .post(users::create)
                .layer(axum::extract::DefaultBodyLimit::max(
                    photo::MAX_UPLOAD + 64 * 1024,
                )),
        )
        .route("/aia/utilisateurs/{id}", get(users::card))
        .route(
            "/aia/utilisateurs/{id}/editer",
            get(users::edit_form)
                .post(users::update)
                .layer(axum::extract::DefaultBodyLimit::max(
                    photo::MAX_UPLOAD + 64 * 1024,
                )),
        )
        .route("/aia/utilisateurs/{id}/verrouillage", post(users::lock))
        .route(
            "/aia/utilisateurs/{id}/facteurs/reinitialiser",
            post(users::reset_factors),
        )
        .route(
            "/aia/utilisateurs/{id}/fournisseur/dissocier",
            post(users::unlink_provider),
        )
        .route(
            "/aia/utilisateurs/{id}/sessions/fermer",
            post(users::end_sessions),
        )
        .route(
            "/aia/utilisateurs/{id}/photo",
            post(users::upload_photo).layer(axum::extract::DefaultBodyLimit::max(
                photo::MAX_UPLOAD + 64 * 1024,
            )),
        )
        .route(
            "/aia/utilisateurs/{id}/reinitialisation",
            post(users::reset_password),
        )
        .route(
            "/aia/utilisateurs/{id}/supprimer",
            get(users::confirm_delete).post(users::delete),
        )
        .route("/aia/structures", get(structures::page))
        .route(
            "/aia/structures/nouvelle",
            get(structures::new_form).post(structures::create),
        )
        .route("/aia/structures/{id}/export.csv", get(structures::export))
        .route(
            "/aia/structures/{id}/editer",
            get(structures::edit_form).post(structures::update),
        )
        .route(
            "/aia/structures/{id}/referents",
            post(structures::add_referent),
        )
        .route(
            "/aia/structures/{id}/referents/retirer",
            post(structures::remove_referent),
        )
        .route("/aia/applications", get(apps::page))
        .route(
            "/aia/applications/{app}/{role}/affecter",
            get(assign::assign_form).post(assign::assign),
        )
        .route(
            "/aia/applications/{app}/{role}/membres",
            post(apps::members_action),
        )
        .route(
            "/aia/applications/{app}/{role}/export.csv",
            get(apps::export),
        )
        .route("/aia/journal", get(journal::page))
        .route("/aia/journal/export.csv", get(journal::export))
        .route("/_static/aia.js", get(script))
}

const SCRIPT: &str = include_str!("../../../static/aia.js");

/// Progressive enhancement only (confirmation dialogs, select-all); every screen works without.
pub async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        SCRIPT,
    )
}

/// The tabs and the message of the page.
#[derive(Clone, Debug, Default)]
pub struct Nav {
    pub tab: &'static str,
    pub show_structures: bool,
    pub show_apps: bool,
    pub show_journal: bool,
    pub flash: Option<String>,
    pub error: Option<String>,
}

impl Nav {
    pub fn new(v: &Viewer, tab: &'static str) -> Nav {
        Nav {
            tab,
            show_structures: v.is_manager(),
            show_apps: v.platform_admin || !v.admin_apps.is_empty(),
            show_journal: v.can_read_journal(),
            flash: None,
            error: None,
        }
    }

    pub fn with_flash(mut self, code: &str) -> Nav {
        self.flash = flash_message(code).map(str::to_string);
        self
    }
}

/// The query of a page reached by a redirect after an action: its flash code.
#[derive(serde::Deserialize, Default)]
pub struct FlashQuery {
    #[serde(default)]
    pub ok: String,
}

/// An application role as shown on cards and the profile.
pub struct GrantRow {
    pub app: String,
    pub role: String,
    pub structure: String,
}

/// The rows of `grants`, applications by their current name (a slug when the application left
/// the configuration), structures by their name.
pub async fn grant_rows(
    gw: &Gateway,
    grants: Vec<crate::directory::model::Grant>,
) -> Result<Vec<GrantRow>, WebError> {
    let routes = gw.routes();
    let ids: Vec<i64> = grants.iter().map(|g| g.structure_id).collect();
    let names = gw.dir.display_names_by_id(&ids).await?;
    Ok(grants
        .into_iter()
        .map(|g| GrantRow {
            app: routes
                .app_by_slug(&g.app_slug)
                .map_or_else(|| g.app_slug.clone(), |a| a.cfg.name.clone()),
            role: g.role,
            structure: names
                .get(&g.structure_id)
                .cloned()
                .unwrap_or(g.structure_path),
        })
        .collect())
}

/// Messages shown after a redirect (`?ok=code`): fixed texts, nothing from the URL is echoed.
pub fn flash_message(code: &str) -> Option<&'static str> {
    Some(match code {
        "cree" => "Compte créé. L'agent pourra choisir son mot de passe via « Première visite ? ».",
        "modifie" => "Les modifications ont été enregistrées.",
        "email-modifie" => "Les modifications ont été enregistrées. Un message a prévenu l'ancienne adresse e-mail du changement.",
        "verrouille" => "Le compte est verrouillé.",
        "deverrouille" => "Le compte est déverrouillé.",
        "facteurs" => "La vérification en deux étapes du compte est réinitialisée ; l'agent en est prévenu par courriel.",
        "sans-facteur" => "Ce compte n'avait plus de vérification en deux étapes.",
        "dissocie" => "Le compte n'est plus associé à cette identité externe ; ses sessions sont fermées.",
        "sessions-fermees" => "Toutes les sessions de l'utilisateur ont été fermées.",
        "lien" => "Un lien de réinitialisation du mot de passe a été envoyé à l'utilisateur.",
        "supprime" => "L'utilisateur a été supprimé définitivement.",
        "structure" => "La structure a été enregistrée.",
        "referent" => "Le référent a été désigné.",
        "referent-retire" => "Le référent a été retiré.",
        "affecte" => "Les utilisateurs sélectionnés ont été affectés au rôle.",
        "affecte-en-partie" => "Les utilisateurs sélectionnés ont été affectés au rôle ; ceux qui le détenaient déjà pour cette structure sont restés inchangés.",
        "desaffecte" => "Les membres sélectionnés ont été désaffectés.",
        "reaffecte" => "Les membres sélectionnés ont été réaffectés.",
        "photo" => "Votre photo a été enregistrée.",
        "photo-supprimee" => "Votre photo a été supprimée.",
        "photo-agent" => "La photo de l'utilisateur a été enregistrée.",
        _ => return None,
    })
}

/// "24/11/2026 11:05" for a Unix timestamp, in the configured zone (`[display].time_zone`).
pub fn fmt_ts(ts: i64, tz: &jiff::tz::TimeZone) -> String {
    crate::web::french::date_time(ts, tz)
}

/// "24/11/2026" for a stored "2026-11-24".
pub fn fmt_date(d: &str) -> String {
    let parts: Vec<&str> = d.split('-').collect();
    match parts.as_slice() {
        [y, m, day] => format!("{day}/{m}/{y}"),
        _ => d.to_string(),
    }
}

/// Page size choices of "Éléments par page".
pub const PER_PAGE: [i64; 4] = [10, 25, 50, 100];

/// Pagination of a list: which page, its bounds and links that keep the other parameters.
#[derive(Clone, Debug)]
pub struct Pager {
    pub page: i64,
    pub per_page: i64,
    pub total: i64,
    pub pages: i64,
    pub first: i64,
    pub last: i64,
    pub prev_url: Option<String>,
    pub next_url: Option<String>,
    pub numbers: Vec<(i64, String)>,
}

impl Pager {
    /// `base` is the path; `params` the other query parameters to keep.
    pub fn new(
        base: &str,
        params: &[(&str, String)],
        page: i64,
        per_page: i64,
        total: i64,
    ) -> Pager {
        let per_page = if PER_PAGE.contains(&per_page) {
            per_page
        } else {
            25
        };
        let pages = ((total + per_page - 1) / per_page).max(1);
        let page = page.clamp(1, pages);
        let url = |p: i64| {
            let mut s = form_urlencoded::Serializer::new(String::new());
            for (k, v) in params {
                if !v.is_empty() {
                    s.append_pair(k, v);
                }
            }
            s.append_pair("par_page", &per_page.to_string());
            s.append_pair("page", &p.to_string());
            format!("{base}?{}", s.finish())
        };
        let lo = (page - 2).max(1);
        let hi = (page + 2).min(pages);
        Pager {
            page,
            per_page,
            total,
            pages,
            first: if total == 0 {
                0
            } else {
                (page - 1) * per_page + 1
            },
            last: (page * per_page).min(total),
            prev_url: (page > 1).then(|| url(page - 1)),
            next_url: (page < pages).then(|| url(page + 1)),
            numbers: (lo..=hi).map(|p| (p, url(p))).collect(),
        }
    }

    pub fn offset(&self) -> i64 {
        (self.page - 1) * self.per_page
    }
}

/// Lenient number parsing for query strings: anything invalid falls back to the default.
pub fn num(s: &str, default: i64) -> i64 {
    s.trim().parse().unwrap_or(default)
}

/// "Éléments par page" as asked (`par_page`), or 25 for a size that is not offered.
pub fn per_page(raw: &str) -> i64 {
    let asked = num(raw, 25);
    if PER_PAGE.contains(&asked) {
        asked
    } else {
        25
    }
}

/// The page number asked for (`page`), lenient like every paging parameter: 1 unless valid.
pub fn page_number(raw: &str) -> i64 {
    num(raw, 1).max(1)
}

/// A 303 to a page with a fixed flash code (none when `code` is empty). Never panics: a location that is not a valid
/// header value (it cannot happen with encoded parameters) falls back to the AIA home.
pub fn see_other(path: &str, code: &str) -> Response {
    let sep = if path.contains('?') { '&' } else { '?' };
    let target = if code.is_empty() {
        path.to_string()
    } else {
        format!("{path}{sep}ok={code}")
    };
    let location = axum::http::HeaderValue::from_str(&target)
        .unwrap_or_else(|_| axum::http::HeaderValue::from_static("/aia"));
    (
        axum::http::StatusCode::SEE_OTHER,
        [(header::LOCATION, location)],
    )
        .into_response()
}

/// Percent-encodes a value for a URL path segment or query parameter.
pub fn enc(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Form body extractor whose rejections (wrong content type, malformed or duplicated fields)
/// become the French 400 page instead of axum's English text.
#[derive(axum::extract::FromRequest)]
#[from_request(via(axum::extract::Form), rejection(WebError))]
pub struct FrForm<T>(pub T);

/// Query-string extractor with French rejections.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(WebError))]
pub struct FrQuery<T>(pub T);

/// Path extractor: an id that is not a number designates no object, hence 404.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(WebError))]
pub struct FrPath<T>(pub T);

impl From<axum::extract::rejection::FormRejection> for WebError {
    fn from(r: axum::extract::rejection::FormRejection) -> Self {
        // Too large (413) or not a form (415) keep their status; anything else is a 400.
        match r.status() {
            s @ (axum::http::StatusCode::PAYLOAD_TOO_LARGE
            | axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE) => WebError::Rejected(s),
            _ => WebError::BadRequest(
                "Le formulaire envoyé est invalide. Rechargez la page et recommencez.".into(),
            ),
        }
    }
}

impl From<axum::extract::rejection::QueryRejection> for WebError {
    fn from(_: axum::extract::rejection::QueryRejection) -> Self {
        WebError::BadRequest("Les paramètres de la page sont invalides.".into())
    }
}

impl From<axum::extract::rejection::PathRejection> for WebError {
    fn from(_: axum::extract::rejection::PathRejection) -> Self {
        WebError::NotFound
    }
}
