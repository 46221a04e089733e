//! Users: e-mail addresses, names, account status and the password policy.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::validation::{FieldError, required_text};

/// Whether a user may sign in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum UserStatus {
    Active,
    /// Refused at sign-in and, within the status-cache interval, on every request.
    Disabled,
}

impl UserStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Disabled => "disabled",
        }
    }
}

impl fmt::Display for UserStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for UserStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(UserStatus::Active),
            "disabled" => Ok(UserStatus::Disabled),
            other => Err(format!("unknown user status {other:?}")),
        }
    }
}

/// Checks an e-mail address and returns it trimmed. Uniqueness is case-insensitive (the store
/// compares lower-cased addresses); the address keeps the case the person typed.
pub fn email(field: &str, value: &str) -> Result<String, FieldError> {
    let email = value.trim();
    let invalid = || {
        FieldError::new(
            field,
            "user.email_invalid",
            format!("{value:?} is not an e-mail address like name@practice.example"),
        )
    };
    if email.len() > 254
        || email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || crate::validation::is_invisible(c))
    {
        return Err(invalid());
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return Err(invalid());
    };
    if local.is_empty() || local.len() > 64 || local.contains('@') {
        return Err(invalid());
    }
    if domain.len() < 3
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
    {
        return Err(invalid());
    }
    Ok(email.to_owned())
}

pub fn person_name(field: &str, value: &str) -> Result<String, FieldError> {
    required_text(field, value, 100, "user.name_invalid")
}

/// The password policy, after NIST SP 800-63B: length over composition rules, and no password
/// that is trivially guessable for this account.
pub fn check_password(field: &str, password: &str, email: &str) -> Result<(), FieldError> {
    const MIN: usize = 12;
    const MAX: usize = 128;
    let chars = password.chars().count();
    let fail = |code, message: String| Err(FieldError::new(field, code, message));
    if chars < MIN {
        return fail(
            "user.password_too_short",
            format!("The password must have at least {MIN} characters, it has {chars}"),
        );
    }
    if chars > MAX {
        return fail(
            "user.password_too_long",
            format!("The password must have at most {MAX} characters, it has {chars}"),
        );
    }
    let lower = password.to_lowercase();
    let local_part = email.split('@').next().unwrap_or_default().to_lowercase();
    let distinct = {
        let mut seen: Vec<char> = lower.chars().collect();
        seen.sort_unstable();
        seen.dedup();
        seen.len()
    };
    if distinct < 5 {
        return fail(
            "user.password_too_simple",
            "The password repeats too few different characters".to_owned(),
        );
    }
    if local_part.len() >= 4 && lower.contains(&local_part) {
        return fail(
            "user.password_contains_email",
            "The password must not contain the e-mail address".to_owned(),
        );
    }
    const COMMON: [&str; 8] = [
        "password", "123456", "qwerty", "letmein", "welcome", "iloveyou", "admin", "optician",
    ];
    if COMMON.iter().any(|c| lower.contains(c)) {
        return fail(
            "user.password_too_common",
            "The password contains a commonly used word; choose a passphrase".to_owned(),
        );
    }
    Ok(())
}

/// A person's identity as a user: e-mail address and names, normalised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
}

/// Checks a new user's e-mail address and names (fields under `prefix`, e.g. `admin.`),
/// adding every problem to `errors`; the same rules on ILS Central and on a desktop.
pub fn check_person(
    errors: &mut crate::validation::ValidationErrors,
    prefix: &str,
    email: &str,
    first_name: &str,
    last_name: &str,
) -> Option<Person> {
    let f = |name: &str| format!("{prefix}{name}");
    let email = errors.check(self::email(&f("email"), email));
    let first_name = errors.check(person_name(&f("first_name"), first_name));
    let last_name = errors.check(person_name(&f("last_name"), last_name));
    Some(Person {
        email: email?,
        first_name: first_name?,
        last_name: last_name?,
    })
}

/// Whether an actor of role `actor` may give `role` to a user: only the platform operator
/// grants `platform_admin`.
pub fn check_assignable(
    actor: crate::access::Role,
    role: crate::access::Role,
    field: &str,
) -> Result<(), FieldError> {
    use crate::access::Role;
    if role == Role::PlatformAdmin && actor != Role::PlatformAdmin {
        return Err(FieldError::new(
            field,
            "user.role_not_assignable",
            "Only the platform operator can grant platform_admin",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        let cases = [
            (
                " Anna.Berg@Clarity.Example ",
                Some("Anna.Berg@Clarity.Example"),
            ),
            ("a@b.co", Some("a@b.co")),
            ("no-at-sign.example", None),
            ("@clarity.example", None),
            ("anna@", None),
            ("anna@localhost", None),
            ("anna@.example", None),
            ("anna@clarity..example", None),
            ("an na@clarity.example", None),
            ("a@b@clarity.example", None),
        ];
        for (input, expected) in cases {
            assert_eq!(email("email", input).ok().as_deref(), expected, "{input:?}");
        }
    }

    #[test]
    fn passwords() {
        let cases = [
            ("correct horse battery", None),
            ("short", Some("user.password_too_short")),
            ("aaaaaaaaaaaaaaaa", Some("user.password_too_simple")),
            ("my-annaberg-secret!", Some("user.password_contains_email")),
            ("MyPassword-2026!", Some("user.password_too_common")),
            (&"x1y2z3w4v5".repeat(13), Some("user.password_too_long")),
        ];
        for (password, expected) in cases {
            let got = check_password("password", password, "annaberg@clarity.example")
                .err()
                .map(|e| e.code);
            assert_eq!(got, expected, "{password:?}");
        }
    }
}
