//! UTILISATEURS (docs/aia.md): the list with search, filters and pagination, the card,
//! AJOUTER / ÉDITER with every field of an account (docs/product.md#accounts), lock, password
//! reset, GDPR deletion and the export.

use super::extract::{require, Action, CsrfOnly, CsrfProtected, SignedIn};
use super::form::{self, FieldErrors, MAX_TEXT};
use super::form_page::{self, Checked, FormErrors, FormPage};
use super::photo::PhotoUpload;
use super::{
    csv_export, fmt_date, fmt_ts, grant_rows, num, page_number, per_page, see_other, FlashQuery,
    GrantRow, Nav, Pager, PER_PAGE,
};
use super::{structure_field, FrPath, FrQuery};
use crate::directory::access::{Scope, Viewer};
use crate::directory::admin_users::{UserFilter, UserInput, UserRecord, UserRow, MIN_SEARCH};
use crate::directory::audit_log::pseudonym;
use crate::directory::search;
use crate::directory::Directory;
use crate::web::error::{WebError, WebResult};
use crate::web::pages::Layout;
use askama::Template;

use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

#[derive(Deserialize, Default, Clone)]
pub struct ListQuery {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub structure: String,
    /// The structure filter typed as text, where a select would hold too many structures.
    #[serde(default)]
    pub structure_q: String,
    #[serde(default)]
    pub app: String,
    #[serde(default)]
    pub verrouille: String,
    #[serde(default)]
    pub expire: String,
    #[serde(default)]
    pub jamais: String,
    #[serde(default)]
    pub par_page: String,
    #[serde(default)]
    pub page: String,
    #[serde(default)]
    pub ok: String,
}

impl ListQuery {
    fn params(&self) -> Vec<(&'static str, String)> {
        vec![
            ("q", self.q.clone()),
            ("structure", self.structure.clone()),
            ("structure_q", self.structure_q.clone()),
            ("app", self.app.clone()),
            ("verrouille", self.verrouille.clone()),
            ("expire", self.expire.clone()),
            ("jamais", self.jamais.clone()),
        ]
    }
}

/// What a structure filter typed as text found, shown above the list.
#[derive(Default)]
pub struct StructureMatches {
    pub labels: Vec<String>,
    pub too_many: bool,
    /// The filter came as a structure id (a link), not as text.
    pub by_id: bool,
}

/// Turns the query into a filter, checking the structure against the viewer's list scope
/// (an unknown or foreign structure is a 404, like any object out of reach). A structure typed
/// as text filters on every structure of the scope whose name contains it (and their
/// subtrees); more than `structure_field::MATCH_MAX` is refused with a message, not guessed.
async fn filter_of(
    who: &SignedIn,
    q: &ListQuery,
) -> WebResult<(UserFilter, Option<StructureMatches>)> {
    let (v, dir) = (&who.viewer, who.dir());
    // Account states are for managers only: agents cannot filter colleagues on them.
    let states = v.is_manager();
    let mut f = UserFilter {
        q: q.q.chars().take(100).collect(),
        locked: states && !q.verrouille.is_empty(),
        expired: states && !q.expire.is_empty(),
        never_logged_in: states && !q.jamais.is_empty(),
        ..Default::default()
    };
    let mut matches = None;
    if !q.structure.trim().is_empty() {
        let id = num(&q.structure, 0);
        let s = dir.structure_info(id).await?.ok_or(WebError::NotFound)?;
        if !v.can_view_card(&s.path) {
            return Err(WebError::NotFound);
        }
        let label = dir.path_labels(&[s.path.as_str()]).await?;
        matches = Some(StructureMatches {
            labels: label.into_values().collect(),
            too_many: false,
            by_id: true,
        });
        f.structure_paths = Some(vec![s.path]);
    }
    let text = q.structure_q.trim();
    if q.structure.trim().is_empty() && !text.is_empty() {
        let text: String = text.chars().take(100).collect();
        let found = dir
            .search_structures(
                &v.list_scope(),
                &text,
                structure_field::MATCH_MAX as i64 + 1,
            )
            .await?;
        let too_many = found.len() > structure_field::MATCH_MAX;
        let shown = &found[..found.len().min(structure_field::MATCH_MAX)];
        let paths: Vec<&str> = shown.iter().map(|s| s.path.as_str()).collect();
        let labels = dir.path_labels(&paths).await?;
        f.structure_paths = Some(if too_many {
            Vec::new()
        } else {
            shown.iter().map(|s| s.path.clone()).collect()
        });
        matches = Some(StructureMatches {
            labels: paths
                .iter()
                .map(|p| labels.get(*p).cloned().unwrap_or_default())
                .collect(),
            too_many,
            by_id: false,
        });
    }
    if !q.app.trim().is_empty() {
        let (slug, role) = match q.app.split_once('/') {
            Some((a, r)) => (a.to_string(), Some(r.to_string())),
            None => (q.app.clone(), None),
        };
        f.app_role = Some((slug, role));
    }
    Ok((f, matches))
}

pub struct ListRow {
    pub r: UserRow,
    /// The viewer's own account (no "Supprimer" in its menu).
    pub is_self: bool,
    pub manage: bool,
    pub last_login: String,
    pub expired: bool,
}

#[derive(Template)]
#[template(path = "aia/users.html")]
pub struct UsersPage {
    pub l: Layout,
    pub nav: Nav,
    pub q: ListQuery,
    pub rows: Vec<ListRow>,
    pub pager: Pager,
    pub per_page_choices: Vec<i64>,
    /// The structure filter as a select; `None` when the scope holds too many structures and
    /// the filter is a search field instead.
    pub structures: Option<Vec<(i64, String, String)>>,
    pub structure_matches: Option<StructureMatches>,
    /// This list without its structure filter.
    pub clear_structure_url: String,
    pub app_choices: Vec<(String, String)>,
    pub can_add: bool,
    pub can_export: bool,
    pub export_url: String,
    pub short_search: bool,
}

/// (value, label) of the application/role filter.
async fn app_choices(dir: &Directory) -> WebResult<Vec<(String, String)>> {
    let apps = dir.apps_with_roles(None, &Scope::Subtrees(vec![])).await?;
    let mut out = Vec::new();
    for a in apps {
        out.push((a.slug.clone(), format!("{} (tous les rôles)", a.name)));
        for r in a.roles {
            out.push((
                format!("{}/{}", a.slug, r.name),
                format!("{} — {}", a.name, r.name),
            ));
        }
    }
    Ok(out)
}

pub async fn list(FrQuery(q): FrQuery<ListQuery>, who: SignedIn) -> WebResult<Response> {
    let (f, structure_matches) = filter_of(&who, &q).await?;
    let (v, dir) = (&who.viewer, who.dir());
    let per_page = per_page(&q.par_page);
    let page = page_number(&q.page);
    let scope = v.list_scope();
    let (mut total, mut rows) = dir
        .list_users(&scope, &f, per_page, (page - 1).saturating_mul(per_page))
        .await?;
    let last_page = ((total + per_page - 1) / per_page).max(1);
    if rows.is_empty() && page > last_page && total > 0 {
        // A page past the end (stale link): show the last one instead of an empty list.
        (total, rows) = dir
            .list_users(&scope, &f, per_page, (last_page - 1) * per_page)
            .await?;
    }
    let today = crate::directory::today();
    let rows = rows
        .into_iter()
        .map(|r| ListRow {
            is_self: r.id == v.user_id,
            manage: v.can_manage_user(&r.structure_path),
            last_login: r.last_login_at.map(fmt_ts).unwrap_or_default(),
            expired: r.valid_until.as_deref().is_some_and(|u| u < today.as_str()),
            r,
        })
        .collect();
    let params = q.params();
    let clear_structure_url = {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, val) in &params {
            if !val.is_empty() && !k.starts_with("structure") {
                s.append_pair(k, val);
            }
        }
        format!("/aia/utilisateurs?{}", s.finish())
    };
    let export_url = {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, val) in &params {
            if !val.is_empty() {
                s.append_pair(k, val);
            }
        }
        format!("/aia/utilisateurs/export.csv?{}", s.finish())
    };
    let page = UsersPage {
        l: who.layout("Utilisateurs"),
        nav: who.nav("utilisateurs").with_flash(&q.ok),
        pager: Pager::new("/aia/utilisateurs", &params, page, per_page, total),
        per_page_choices: PER_PAGE.to_vec(),
        structures: structure_field::choices(dir, &scope).await?,
        structure_matches,
        clear_structure_url,
        app_choices: app_choices(dir).await?,
        can_add: v.is_manager(),
        can_export: v.can_export(),
        export_url,
        short_search: !q.q.trim().is_empty() && search::needle(&q.q, MIN_SEARCH).is_none(),
        q,
        rows,
    };
    Ok(Html(page.render()?).into_response())
}

/// "Exporter": every user the viewer manages (within the current filters), streamed.
pub async fn export(FrQuery(q): FrQuery<ListQuery>, who: Option<SignedIn>) -> WebResult<Response> {
    let who = who.ok_or(WebError::Forbidden)?;
    require(who.viewer.can_export())?;
    let (f, _) = filter_of(&who, &q).await?;
    who.audit("users_exported", "", Some(who.viewer.structure_id), "")
        .await?;
    let scope = who.viewer.manage_scope();
    Ok(csv_export::users(who.gw().clone(), "utilisateurs.csv", scope, f).await?)
}

#[derive(Template)]
#[template(path = "aia/user_card.html")]
pub struct CardPage {
    pub l: Layout,
    pub nav: Nav,
    pub u: UserRecord,
    pub grants: Vec<GrantRow>,
    pub manage: bool,
    pub is_self: bool,
    pub last_login: String,
    pub created: String,
    pub valid_from: String,
    pub valid_until: String,
}

/// Loads a user the viewer may see, else 404.
async fn visible_user(who: &SignedIn, id: i64) -> WebResult<UserRecord> {
    let v = &who.viewer;
    let u = who.dir().user_record(id).await?.ok_or(WebError::NotFound)?;
    if u.id != v.user_id && !v.can_view_card(&u.structure_path) {
        return Err(WebError::NotFound);
    }
    Ok(u)
}

/// Loads a user the viewer manages: 404 when out of sight, 403 when only visible. Platform
/// administrators' accounts are managed by platform administrators only.
async fn managed_user(who: &SignedIn, id: i64) -> WebResult<UserRecord> {
    let u = visible_user(who, id).await?;
    require(manages_account(&who.viewer, &u))?;
    Ok(u)
}

/// Whether `v` may change the account `u`. A platform administrator's account is changed by
/// platform administrators only: anyone else could take over the whole platform through it.
fn manages_account(v: &Viewer, u: &UserRecord) -> bool {
    v.can_manage_user(&u.structure_path) && (!u.platform_admin || v.platform_admin)
}

async fn card_page(who: &SignedIn, u: UserRecord, nav: Nav) -> WebResult<Html<String>> {
    let v = &who.viewer;
    let ident = who.dir().identity(u.id).await?;
    let grants = grant_rows(who.gw(), ident.map(|i| i.grants).unwrap_or_default());
    let page = CardPage {
        l: who.layout(&format!("{} {}", u.first_name, u.last_name)),
        nav,
        manage: manages_account(v, &u),
        is_self: u.id == v.user_id,
        last_login: u.last_login_at.map(fmt_ts).unwrap_or_default(),
        created: fmt_ts(u.created_at),
        valid_from: u.valid_from.as_deref().map(fmt_date).unwrap_or_default(),
        valid_until: u.valid_until.as_deref().map(fmt_date).unwrap_or_default(),
        grants,
        u,
    };
    Ok(Html(page.render()?))
}

pub async fn card(
    FrPath(id): FrPath<i64>,
    FrQuery(q): FrQuery<FlashQuery>,
    who: SignedIn,
) -> WebResult<Response> {
    let u = visible_user(&who, id).await?;
    let nav = who.nav("utilisateurs").with_flash(&q.ok);
    Ok(card_page(&who, u, nav).await?.into_response())
}

/// The fields of AJOUTER / ÉDITER as typed.
#[derive(Deserialize, Default, Clone)]
pub struct UserForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub structure_id: String,
    /// The structure typed as text (name or "établissement / service" path), where a select
    /// would hold too many structures.
    #[serde(default)]
    pub structure_q: String,
    #[serde(default)]
    pub job_title: String,
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub postal_address: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub app_identifier: String,
    #[serde(default)]
    pub telework: Option<String>,
    #[serde(default)]
    pub valid_from: String,
    #[serde(default)]
    pub valid_until: String,
    #[serde(default)]
    pub locked: Option<String>,
}

impl UserForm {
    fn from_record(u: &UserRecord) -> UserForm {
        UserForm {
            csrf: String::new(),
            last_name: u.last_name.clone(),
            first_name: u.first_name.clone(),
            email: u.email.clone(),
            structure_id: u.structure_id.to_string(),
            structure_q: u.structure_label.clone(),
            job_title: u.job_title.clone(),
            service: u.service.clone(),
            postal_address: u.postal_address.clone(),
            phone: u.phone.clone(),
            app_identifier: u.app_identifier.clone(),
            telework: u.telework.then(|| "1".to_string()),
            valid_from: u.valid_from.clone().unwrap_or_default(),
            valid_until: u.valid_until.clone().unwrap_or_default(),
            locked: u.locked.then(|| "1".to_string()),
        }
    }

    pub fn telework_checked(&self) -> bool {
        form::checked(&self.telework)
    }

    pub fn locked_checked(&self) -> bool {
        form::checked(&self.locked)
    }
}

impl CsrfProtected for UserForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

#[derive(Template)]
#[template(path = "aia/user_form.html")]
pub struct UserFormPage {
    pub l: Layout,
    pub nav: Nav,
    /// `Some(id)` when editing.
    pub id: Option<i64>,
    pub f: UserForm,
    pub errors: FormErrors,
    /// The structure as a select; `None` when the manager's scope holds too many structures
    /// and the field is typed text instead.
    pub structures: Option<Vec<(i64, String, String)>>,
    pub has_photo: bool,
}

impl FormPage for UserFormPage {
    fn errors(&self) -> &FormErrors {
        &self.errors
    }
}

impl UserFormPage {
    pub fn is_selected(&self, id: &i64) -> bool {
        self.f.structure_id == id.to_string()
    }
}

/// Shown when the e-mail belongs to another account.
const EMAIL_TAKEN: &str = "Un compte existe déjà avec cette adresse e-mail.";

/// AJOUTER (`id` is `None`) or ÉDITER, with what was typed and what is wrong. `flash` is the
/// code of the message after a redirect (`?ok=`), empty for none; when editing, the page also
/// offers the account's photo.
async fn show_form(
    who: &SignedIn,
    id: Option<i64>,
    f: UserForm,
    errors: FormErrors,
    flash: &str,
) -> WebResult<Response> {
    let has_photo = match id {
        Some(id) => who
            .dir()
            .user_record(id)
            .await?
            .is_some_and(|u| u.has_photo),
        None => false,
    };
    let title = if id.is_some() {
        "Éditer l'utilisateur"
    } else {
        "Ajout d'un nouvel utilisateur"
    };
    let page = UserFormPage {
        l: who.layout(title),
        nav: who.nav("utilisateurs").with_flash(flash),
        id,
        f,
        errors,
        structures: structure_field::choices(who.dir(), &who.viewer.manage_scope()).await?,
        has_photo,
    };
    form_page::render(&page)
}

/// Checks every field (docs/product.md#accounts): what to store and what is wrong.
async fn check(
    who: &SignedIn,
    f: &UserForm,
    editing: Option<i64>,
) -> WebResult<Checked<UserInput>> {
    let (v, dir) = (&who.viewer, who.dir());
    let mut e = FieldErrors::default();
    let last_name = form::text(&mut e, "last_name", &f.last_name, true, MAX_TEXT);
    let first_name = form::text(&mut e, "first_name", &f.first_name, true, MAX_TEXT);
    let email = form::text(&mut e, "email", &f.email, true, 254).to_lowercase();
    if !email.is_empty() && e.get("email").is_none() && !form::email_syntax_ok(&email) {
        e.add(
            "email",
            "Saisissez une adresse e-mail valide, par exemple prenom.nom@mairie.fr.",
        );
    }
    let mut structure_id = 0;
    let typed = f.structure_q.trim();
    let sid = if typed.is_empty() {
        num(&f.structure_id, 0)
    } else {
        match structure_field::by_text(dir, &v.manage_scope(), typed).await? {
            Ok(id) => id,
            Err(message) => {
                e.add("structure_id", message);
                -1
            }
        }
    };
    if sid >= 0 {
        match dir.structure_info(sid).await? {
            Some(s) if v.manages_path(&s.path) => structure_id = s.id,
            _ => e.add("structure_id", "Choisissez la structure d'appartenance."),
        }
    }
    if structure_id != 0 && e.get("email").is_none() && !email.is_empty() {
        let allowed = dir.allowed_domains(structure_id).await?;
        if allowed.is_empty() {
            e.add(
                "email",
                "Aucun domaine autorisé n'est défini pour cette structure : contactez le correspondant CIG.",
            );
        } else if !allowed.contains(&form::domain_of(&email)) {
            e.add(
                "email",
                format!(
                    "L'adresse e-mail doit appartenir au domaine autorisé de la structure : {}.",
                    allowed.join(", ")
                ),
            );
        }
    }
    if e.get("email").is_none() && !email.is_empty() {
        if let Some(other) = dir.user_id_by_email(&email).await? {
            if Some(other) != editing {
                e.add("email", EMAIL_TAKEN);
            }
        }
    }
    let job_title = form::text(&mut e, "job_title", &f.job_title, false, MAX_TEXT);
    let service = form::text(&mut e, "service", &f.service, false, MAX_TEXT);
    let postal_address = form::text(&mut e, "postal_address", &f.postal_address, false, 500);
    let phone = form::text(&mut e, "phone", &f.phone, false, 30);
    if !phone.is_empty() && e.get("phone").is_none() && !form::phone_ok(&phone) {
        e.add(
            "phone",
            "Saisissez un numéro de téléphone valide, par exemple 01 23 45 67 89 ou +33 1 23 45 67 89.",
        );
    }
    let app_identifier = form::text(&mut e, "app_identifier", &f.app_identifier, false, 100);
    let valid_from = form::date(&mut e, "valid_from", &f.valid_from);
    let valid_until = form::date(&mut e, "valid_until", &f.valid_until);
    if let (Some(a), Some(b)) = (&valid_from, &valid_until) {
        if b < a {
            e.add(
                "valid_until",
                "La date de fin de validité doit être postérieure à la date de début.",
            );
        }
    }
    Ok(Checked {
        value: UserInput {
            email,
            last_name,
            first_name,
            structure_id,
            job_title,
            service,
            postal_address,
            phone,
            app_identifier,
            telework: f.telework_checked(),
            valid_from,
            valid_until,
            locked: f.locked_checked(),
        },
        errors: e,
    })
}

#[derive(Deserialize, Default)]
pub struct NewQuery {
    #[serde(default)]
    structure: String,
}

pub async fn new_form(FrQuery(q): FrQuery<NewQuery>, who: SignedIn) -> WebResult<Response> {
    require(who.viewer.is_manager())?;
    let f = UserForm {
        structure_id: q.structure,
        ..Default::default()
    };
    show_form(&who, None, f, FormErrors::default(), "").await
}

pub async fn create(Action(who, f): Action<UserForm>) -> WebResult<Response> {
    require(who.viewer.is_manager())?;
    let Checked {
        value: input,
        errors,
    } = check(&who, &f, None).await?;
    if !errors.is_empty() {
        return show_form(&who, None, f, errors.into(), "").await;
    }
    let Some(id) = who
        .dir()
        .create_user_full(&input, who.viewer.user_id)
        .await?
    else {
        return show_form(&who, None, f, FormErrors::field("email", EMAIL_TAKEN), "").await;
    };
    who.audit("user_created", &input.email, Some(input.structure_id), "")
        .await?;
    Ok(see_other(&format!("/aia/utilisateurs/{id}"), "cree"))
}

pub async fn edit_form(
    FrPath(id): FrPath<i64>,
    FrQuery(q): FrQuery<FlashQuery>,
    who: SignedIn,
) -> WebResult<Response> {
    let u = managed_user(&who, id).await?;
    let f = UserForm::from_record(&u);
    show_form(&who, Some(id), f, FormErrors::default(), &q.ok).await
}

pub async fn update(
    FrPath(id): FrPath<i64>,
    Action(who, f): Action<UserForm>,
) -> WebResult<Response> {
    let before = managed_user(&who, id).await?;
    let Checked {
        value: input,
        mut errors,
    } = check(&who, &f, Some(id)).await?;
    if id == who.viewer.user_id && input.locked {
        errors.add(
            "locked",
            "Vous ne pouvez pas verrouiller votre propre compte.",
        );
    }
    let email_changed = before.email != input.email;
    if email_changed && errors.get("email").is_none() {
        // The e-mail is the login and where reset links go: changing it hands the account
        // over, so it needs every right the account holds.
        let powers = who
            .dir()
            .account_powers(id)
            .await?
            .ok_or(WebError::NotFound)?;
        if !who.viewer.can_change_email(&powers) {
            errors.add("email", EMAIL_CHANGE_REFUSED);
            who.audit(
                "email_change_refused",
                &before.email,
                Some(before.structure_id),
                &format!("adresse demandée : {}", input.email),
            )
            .await?;
        }
    }
    if !errors.is_empty() {
        return show_form(&who, Some(id), f, errors.into(), "").await;
    }
    if !who.dir().update_user_full(id, &input).await? {
        let taken = FormErrors::field("email", EMAIL_TAKEN);
        return show_form(&who, Some(id), f, taken, "").await;
    }
    let mut details = Vec::new();
    if before.email != input.email {
        details.push("adresse e-mail modifiée");
    }
    if before.structure_id != input.structure_id {
        details.push("structure modifiée");
    }
    if before.locked != input.locked {
        details.push(if input.locked {
            "verrouillé"
        } else {
            "déverrouillé"
        });
    }
    who.audit(
        "user_updated",
        &input.email,
        Some(input.structure_id),
        &details.join(", "),
    )
    .await?;
    if input.locked && !before.locked {
        who.gw().revoke_user(id).await?;
    } else {
        who.gw().user_changed(id);
    }
    if email_changed {
        email_change_notice(&who, &before, &input).await?;
        return Ok(see_other(
            &format!("/aia/utilisateurs/{id}"),
            "email-modifie",
        ));
    }
    Ok(see_other(&format!("/aia/utilisateurs/{id}"), "modifie"))
}

/// Shown next to the e-mail field when the viewer may not change it.
pub const EMAIL_CHANGE_REFUSED: &str = "Seul un administrateur de la plateforme peut modifier l'adresse e-mail de ce compte : il détient des droits que vous ne pouvez pas attribuer vous-même (rôle administrateur d'une application, rôle d'une application que vous n'administrez pas ou détenu pour une autre structure, désignation de référent). Adressez-vous au correspondant CIG.";

/// After an e-mail change: the previous address is told (by whom), and the change is audited
/// with the old address and whether that message went out. A delivery failure does not undo
/// the change; it is logged and recorded in the audit event.
async fn email_change_notice(
    who: &SignedIn,
    before: &UserRecord,
    input: &UserInput,
) -> WebResult<()> {
    let email = &who.viewer.email;
    let by = match &who.req.user {
        Some(u) => format!("{} ({email})", u.ident.identity.display_name()),
        None => email.clone(),
    };
    let sent = crate::lifecycle::notify_email_changed(
        who.gw(),
        &before.first_name,
        &before.email,
        &input.email,
        &by,
    )
    .await;
    let details = match &sent {
        Ok(()) => format!(
            "ancienne adresse : {} ; avertissement envoyé à l'ancienne adresse",
            before.email
        ),
        Err(e) => {
            tracing::error!(user_id = before.id, error = %e, "e-mail change notice not sent to the previous address");
            format!(
                "ancienne adresse : {} ; l'avertissement n'a pas pu être envoyé à l'ancienne adresse",
                before.email
            )
        }
    };
    who.audit(
        "email_changed",
        &input.email,
        Some(input.structure_id),
        &details,
    )
    .await
}

#[derive(Deserialize)]
pub struct LockForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    verrouiller: String,
}

impl CsrfProtected for LockForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// "Verrouillage du compte": a locked account loses its sessions at once.
pub async fn lock(
    FrPath(id): FrPath<i64>,
    Action(who, f): Action<LockForm>,
) -> WebResult<Response> {
    let u = managed_user(&who, id).await?;
    if u.id == who.viewer.user_id {
        return Err(WebError::BadRequest(
            "Vous ne pouvez pas verrouiller votre propre compte.".into(),
        ));
    }
    let locked = f.verrouiller == "1";
    who.dir().set_locked(id, locked).await?;
    let action = if locked {
        "user_locked"
    } else {
        "user_unlocked"
    };
    who.audit(action, &u.email, Some(u.structure_id), "")
        .await?;
    if locked {
        who.gw().revoke_user(id).await?;
    } else {
        who.gw().user_changed(id);
    }
    Ok(see_other(
        &format!("/aia/utilisateurs/{id}"),
        if locked { "verrouille" } else { "deverrouille" },
    ))
}

/// "Réinitialisation mot de passe": sends a one-time link; the old password stays valid until
/// the new one is set (docs/product.md#first-visit-and-password-reset).
pub async fn reset_password(
    FrPath(id): FrPath<i64>,
    Action(who, _): Action<CsrfOnly>,
) -> WebResult<Response> {
    let u = managed_user(&who, id).await?;
    match crate::lifecycle::send_password_link(
        who.gw(),
        id,
        crate::directory::tokens::Purpose::Reset,
    )
    .await
    {
        Ok(_) => {
            who.audit("password_reset_sent", &u.email, Some(u.structure_id), "")
                .await?;
            Ok(see_other(&format!("/aia/utilisateurs/{id}/editer"), "lien"))
        }
        Err(e) => {
            tracing::warn!(user_id = id, error = %e, "password reset link not sent");
            let f = UserForm::from_record(&u);
            let errors = FormErrors::message("Le message n'a pas pu être envoyé. Réessayez dans quelques instants ou contactez le correspondant CIG.");
            show_form(&who, Some(id), f, errors, "").await
        }
    }
}

#[derive(Template)]
#[template(path = "aia/user_delete.html")]
pub struct DeletePage {
    pub l: Layout,
    pub nav: Nav,
    pub u: UserRecord,
}

pub async fn confirm_delete(FrPath(id): FrPath<i64>, who: SignedIn) -> WebResult<Response> {
    let u = managed_user(&who, id).await?;
    let page = DeletePage {
        l: who.layout("Supprimer l'utilisateur"),
        nav: who.nav("utilisateurs"),
        u,
    };
    Ok(Html(page.render()?).into_response())
}

/// GDPR deletion (docs/product.md#account-deletion): personal data gone at once, sessions and
/// assignments revoked, the audit log keeps the event under a non-reversible reference.
pub async fn delete(
    FrPath(id): FrPath<i64>,
    Action(who, _): Action<CsrfOnly>,
) -> WebResult<Response> {
    let u = managed_user(&who, id).await?;
    if u.id == who.viewer.user_id {
        return Err(WebError::BadRequest(
            "Vous ne pouvez pas supprimer votre propre compte.".into(),
        ));
    }
    let reference = pseudonym(&who.gw().secret, &u.email);
    who.dir().delete_user_gdpr(id, &u.email, &reference).await?;
    who.gw().revoke_user(id).await?;
    who.audit("user_deleted", &reference, Some(u.structure_id), "")
        .await?;
    Ok(see_other("/aia/utilisateurs", "supprime"))
}

/// "Ajouter une photo" on the edit form: a manager sets the photo of an account they manage.
pub async fn upload_photo(
    FrPath(id): FrPath<i64>,
    PhotoUpload { who, file }: PhotoUpload,
) -> WebResult<Response> {
    let u = managed_user(&who, id).await?;
    match file.reencode().await? {
        Ok(photo) => {
            who.dir()
                .set_photo(id, photo.content_type, photo.bytes)
                .await?;
            who.audit("photo_updated", &u.email, Some(u.structure_id), "")
                .await?;
            Ok(see_other(
                &format!("/aia/utilisateurs/{id}/editer"),
                "photo-agent",
            ))
        }
        Err(refused) => {
            let f = UserForm::from_record(&u);
            let errors = FormErrors::message(refused.message());
            show_form(&who, Some(id), f, errors, "").await
        }
    }
}
