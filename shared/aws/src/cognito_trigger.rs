//! The Cognito post-confirmation trigger as a domain event: [`user_confirmed`] maps the event
//! Lambda receives to [`UserConfirmed`], which the trigger function publishes for the user-sync
//! consumer (`stowage_core::user_sync`).
//!
//! The user name is Cognito's `userName`, refused unless it is a valid Stowage user name (a
//! pre-sign-up trigger should refuse such names before the user is created). The email address
//! is taken only when Cognito says it is verified (`email_verified` = `"true"`): invitations are
//! matched on it, so an unverified address must never reach the consumer.
//!
//! It must never log the event (it carries the user's attributes) and decides nothing else.

use aws_lambda_events::event::cognito::{
    CognitoEventUserPoolsPostConfirmation, CognitoEventUserPoolsPostConfirmationTriggerSource,
};
use stowage_core::events::UserConfirmed;
use stowage_core::tenancy::UserName;
use stowage_core::{Error, Result};

/// The event for a post-confirmation trigger at time `now` (Unix seconds): `Some` for a
/// confirmed sign-up, `None` for a confirmed password reset (nothing new about the user).
pub fn user_confirmed(
    event: &CognitoEventUserPoolsPostConfirmation,
    now: i64,
) -> Result<Option<UserConfirmed>> {
    let header = &event.cognito_event_user_pools_header;
    match &header.trigger_source {
        Some(CognitoEventUserPoolsPostConfirmationTriggerSource::ConfirmSignUp) => {}
        Some(_) => return Ok(None),
        None => {
            return Err(Error::BadRequest(
                "the Cognito event has no triggerSource".into(),
            ));
        }
    }
    let name = header
        .user_name
        .as_deref()
        .ok_or_else(|| Error::BadRequest("the Cognito event has no userName".into()))?;
    let username = UserName::parse(name).map_err(|e| {
        Error::BadRequest(format!(
            "Cognito user {name:?} cannot be a Stowage user: {e}"
        ))
    })?;
    let attributes = &event.request.user_attributes;
    let email = attributes
        .get("email")
        .filter(|_| attributes.get("email_verified").map(String::as_str) == Some("true"))
        .map(|e| e.trim().to_string())
        .filter(|e| !e.is_empty());
    Ok(Some(UserConfirmed {
        username,
        email,
        at: now,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const SAMPLE: &str =
        include_str!("../../../events/cognito-post-confirmation--confirm-sign-up.json");

    fn event(edit: impl FnOnce(&mut Value)) -> CognitoEventUserPoolsPostConfirmation {
        let mut v: Value = serde_json::from_str(SAMPLE).unwrap();
        edit(&mut v);
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn sample_event_maps_to_user_confirmed() {
        let e: CognitoEventUserPoolsPostConfirmation = serde_json::from_str(SAMPLE).unwrap();
        assert_eq!(
            e.cognito_event_user_pools_header.trigger_source,
            Some(CognitoEventUserPoolsPostConfirmationTriggerSource::ConfirmSignUp)
        );
        assert_eq!(
            user_confirmed(&e, 42).unwrap(),
            Some(UserConfirmed {
                username: UserName::parse("carol").unwrap(),
                email: Some("carol@example.com".into()),
                at: 42,
            })
        );
    }

    #[test]
    fn unverified_or_missing_email_is_left_out() {
        for edit in [
            json!({"email_verified": "false"}),
            json!({"email_verified": null}),
            json!({"email": null}),
            json!({"email": "  "}),
        ] {
            let e = event(|v| {
                let attrs = v["request"]["userAttributes"].as_object_mut().unwrap();
                for (k, val) in edit.as_object().unwrap() {
                    match val {
                        Value::Null => attrs.remove(k),
                        _ => attrs.insert(k.clone(), val.clone()),
                    };
                }
            });
            let got = user_confirmed(&e, 1).unwrap().unwrap();
            assert_eq!(got.email, None, "{edit}");
        }
    }

    #[test]
    fn invalid_user_names_are_refused_clearly() {
        for name in ["Carol", "c", "carol@example.com", "carol smith"] {
            let e = event(|v| v["userName"] = json!(name));
            let err = user_confirmed(&e, 1).unwrap_err().to_string();
            assert!(
                err.contains(&format!("Cognito user {name:?} cannot be a Stowage user"))
                    && err.contains("invalid user name"),
                "{err}"
            );
        }
        let e = event(|v| {
            v.as_object_mut().unwrap().remove("userName");
        });
        assert!(
            user_confirmed(&e, 1)
                .unwrap_err()
                .to_string()
                .contains("no userName")
        );
    }

    #[test]
    fn password_reset_confirmations_are_not_sign_ups() {
        let e = event(|v| v["triggerSource"] = json!("PostConfirmation_ConfirmForgotPassword"));
        assert_eq!(user_confirmed(&e, 1).unwrap(), None);
        let e = event(|v| {
            v.as_object_mut().unwrap().remove("triggerSource");
        });
        assert!(user_confirmed(&e, 1).is_err());
    }
}
