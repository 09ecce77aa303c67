//! The account form that AJOUTER and ÉDITER share: its fields, its checks
//! (docs/product.md#accounts) and its page.

use crate::directory::admin_users::{UserInput, UserRecord};
use crate::web::aia::extract::{CsrfProtected, SignedIn};
use crate::web::aia::form::{self, FieldErrors, MAX_TEXT};
use crate::web::aia::form_page::{self, Checked, FormErrors, FormPage};
use crate::web::aia::structure_field;
use crate::web::aia::{num, Nav};
use crate::web::error::WebResult;
use crate::web::pages::Layout;
use askama::Template;
use axum::response::Response;
use serde::Deserialize;

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
    pub fn from_record(u: &UserRecord) -> UserForm {
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
pub(super) const EMAIL_TAKEN: &str = "Un compte existe déjà avec cette adresse e-mail.";

/// AJOUTER (`id` is `None`) or ÉDITER, with what was typed and what is wrong. `flash` is the
/// code of the message after a redirect (`?ok=`), empty for none; when editing, the page also
/// offers the account's photo.
pub(super) async fn show_form(
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

/// The photo of the account form, re-encoded, or its refusal recorded next to the field
/// (the browser cannot keep the chosen file, so the message asks for it again).
pub(super) async fn check_photo(
    photo: Option<crate::web::aia::photo::SentPhoto>,
    errors: &mut FieldErrors,
) -> WebResult<Option<crate::web::aia::photo::Reencoded>> {
    let Some(sent) = photo else {
        return Ok(None);
    };
    match sent.reencode().await? {
        Ok(p) => Ok(Some(p)),
        Err(refused) => {
            errors.add(
                "photo",
                format!("{} Choisissez de nouveau le fichier.", refused.message()),
            );
            Ok(None)
        }
    }
}

/// Checks every field (docs/product.md#accounts): what to store and what is wrong.
pub(super) async fn check(
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
