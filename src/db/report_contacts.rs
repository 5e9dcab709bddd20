//! `report_contacts`: who to contact about a report that came from no account — the details an
//! Open311 partner application passed on, and which application sent it. Personal data: shown
//! only to the handling staff and admins.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::{api_keys, report_contacts};

/// Contact details as received (each already checked by its newtype at the door).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// A link to media the partner holds (never fetched by us).
    pub media_url: Option<String>,
}

impl Contact {
    /// "First Last", or whichever is given.
    pub fn full_name(&self) -> Option<String> {
        let parts: Vec<&str> = [&self.first_name, &self.last_name]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }
}

/// A stored contact and the name of the partner application that sent it.
#[derive(Debug, Clone)]
pub struct StoredContact {
    pub contact: Contact,
    pub partner: Option<String>,
}

pub async fn insert(
    conn: &mut AsyncPgConnection,
    report: Uuid,
    api_key: Uuid,
    contact: &Contact,
) -> QueryResult<()> {
    diesel::insert_into(report_contacts::table)
        .values((
            report_contacts::report_id.eq(report),
            report_contacts::api_key_id.eq(api_key),
            report_contacts::first_name.eq(&contact.first_name),
            report_contacts::last_name.eq(&contact.last_name),
            report_contacts::email.eq(&contact.email),
            report_contacts::phone.eq(&contact.phone),
            report_contacts::media_url.eq(&contact.media_url),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

type Row = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

pub async fn find(
    conn: &mut AsyncPgConnection,
    report: Uuid,
) -> QueryResult<Option<StoredContact>> {
    let row: Option<Row> = report_contacts::table
        .left_join(api_keys::table)
        .filter(report_contacts::report_id.eq(report))
        .select((
            report_contacts::first_name,
            report_contacts::last_name,
            report_contacts::email,
            report_contacts::phone,
            report_contacts::media_url,
            api_keys::name.nullable(),
        ))
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(
        |(first_name, last_name, email, phone, media_url, partner)| StoredContact {
            contact: Contact {
                first_name,
                last_name,
                email,
                phone,
                media_url,
            },
            partner,
        },
    ))
}
