//! The default seed: Đơn Dương's four communes (since 2025-07-01), the eighteen categories with
//! their deadlines, each commune's four departments plus the triage desk, and the routing rules
//! that send each category to its department in the commune where the report happened.
//!
//! Applied once to an empty database at start-up; `phananh seed` re-applies it. Applying only
//! inserts what is missing (by code), so it never undoes an admin's change or wipes an imported
//! boundary.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::deployment_facts;
use super::{areas, categories, departments, routing_rules};
use crate::domain::{AreaKind, DeadlineUnit, DepartmentKind};

pub struct SeedCommune {
    pub code: &'static str,
    pub name: &'static str,
    pub name_en: &'static str,
    pub lat: f64,
    pub lon: f64,
}

pub const COMMUNES: [SeedCommune; 4] = [
    SeedCommune {
        code: "24931",
        name: "Đơn Dương",
        name_en: "Don Duong",
        lat: 11.7306,
        lon: 108.4533,
    },
    SeedCommune {
        code: "24934",
        name: "D'Ran",
        name_en: "D'Ran",
        lat: 11.8432,
        lon: 108.6130,
    },
    SeedCommune {
        code: "24943",
        name: "Ka Đô",
        name_en: "Ka Do",
        lat: 11.7394,
        lon: 108.5884,
    },
    SeedCommune {
        code: "24955",
        name: "Quảng Lập",
        name_en: "Quang Lap",
        lat: 11.6953,
        lon: 108.5551,
    },
];

pub struct SeedCategory {
    pub code: &'static str,
    pub name_vi: &'static str,
    pub name_en: &'static str,
    pub description: &'static str,
    pub department: DepartmentKind,
    pub working_days: i32,
    pub urgent: bool,
    pub public: bool,
}

const fn cat(
    code: &'static str,
    name_vi: &'static str,
    name_en: &'static str,
    description: &'static str,
    department: DepartmentKind,
    working_days: i32,
) -> SeedCategory {
    SeedCategory {
        code,
        name_vi,
        name_en,
        description,
        department,
        working_days,
        urgent: false,
        public: true,
    }
}

const fn urgent(mut c: SeedCategory) -> SeedCategory {
    c.urgent = true;
    c
}

const fn private(mut c: SeedCategory) -> SeedCategory {
    c.public = false;
    c
}

use DepartmentKind::{CongAn, KinhTe, VanHoaXaHoi, VanPhong};

pub const CATEGORIES: [SeedCategory; 18] = [
    cat(
        "road",
        "Giao thông, đường sá, cầu cống",
        "Roads, bridges, culverts",
        "Ổ gà, sụt lún, hư hỏng mặt đường, cầu, cống, biển báo",
        KinhTe,
        5,
    ),
    cat(
        "lighting",
        "Điện chiếu sáng công cộng",
        "Street lighting",
        "Đèn đường hỏng, không sáng hoặc sáng cả ngày",
        KinhTe,
        3,
    ),
    cat(
        "water",
        "Cấp, thoát nước, ngập úng",
        "Water supply, drainage, flooding",
        "Mất nước, vỡ ống, cống tắc, ngập úng",
        KinhTe,
        3,
    ),
    cat(
        "waste",
        "Vệ sinh môi trường, rác thải",
        "Sanitation, waste",
        "Rác tồn đọng, bãi rác tự phát, thu gom không đúng lịch",
        KinhTe,
        3,
    ),
    cat(
        "pollution",
        "Ô nhiễm môi trường",
        "Pollution (water, air, odour, noise)",
        "Ô nhiễm nước, không khí, mùi hôi, tiếng ồn từ cơ sở sản xuất",
        KinhTe,
        5,
    ),
    cat(
        "land",
        "Đất đai, lấn chiếm đất công",
        "Land, encroachment",
        "Lấn chiếm đất công, sử dụng đất sai mục đích",
        KinhTe,
        10,
    ),
    cat(
        "construction",
        "Trật tự xây dựng, lòng lề đường",
        "Construction order, sidewalks",
        "Xây dựng không phép, lấn chiếm lòng lề đường",
        KinhTe,
        5,
    ),
    cat(
        "agriculture",
        "Nông nghiệp, vật tư, dịch bệnh vật nuôi",
        "Agriculture, pesticides, animal disease",
        "Vật tư nông nghiệp kém chất lượng, thuốc bảo vệ thực vật, dịch bệnh gia súc, gia cầm",
        KinhTe,
        5,
    ),
    urgent(cat(
        "forest",
        "Rừng, khoáng sản trái phép",
        "Forest loss, illegal mining",
        "Phá rừng, cháy rừng, khai thác khoáng sản trái phép",
        KinhTe,
        1,
    )),
    urgent(private(cat(
        "security",
        "An ninh trật tự",
        "Public order",
        "Tụ tập gây rối, trộm cắp, tệ nạn xã hội",
        CongAn,
        1,
    ))),
    cat(
        "traffic_safety",
        "An toàn giao thông",
        "Traffic safety",
        "Điểm đen tai nạn, đua xe, vi phạm an toàn giao thông",
        CongAn,
        3,
    ),
    cat(
        "food_safety",
        "An toàn thực phẩm",
        "Food safety",
        "Thực phẩm bẩn, cơ sở không đảm bảo vệ sinh an toàn thực phẩm",
        VanHoaXaHoi,
        5,
    ),
    cat(
        "health",
        "Y tế, dịch bệnh",
        "Health, epidemics",
        "Dịch bệnh, ổ muỗi, cơ sở y tế",
        VanHoaXaHoi,
        3,
    ),
    cat(
        "education",
        "Giáo dục",
        "Schools",
        "Trường lớp, cơ sở vật chất giáo dục",
        VanHoaXaHoi,
        5,
    ),
    cat(
        "culture",
        "Văn hóa, quảng cáo, tiếng ồn",
        "Culture, advertising, noise",
        "Quảng cáo sai quy định, karaoke gây ồn, hoạt động văn hóa",
        VanHoaXaHoi,
        5,
    ),
    cat(
        "social",
        "Chính sách xã hội",
        "Social welfare",
        "Chính sách người có công, hộ nghèo, bảo trợ xã hội",
        VanHoaXaHoi,
        10,
    ),
    urgent(cat(
        "disaster",
        "Thiên tai, sự cố (sạt lở, cây đổ)",
        "Disasters, hazards",
        "Sạt lở, cây đổ, lũ quét, sự cố nguy hiểm",
        VanPhong,
        1,
    )),
    cat(
        "other",
        "Góp ý, khác",
        "Suggestions, other",
        "Góp ý và các vấn đề khác",
        VanPhong,
        5,
    ),
];

pub const COMMUNE_DEPARTMENTS: [(DepartmentKind, &str); 4] = [
    (KinhTe, "Phòng Kinh tế"),
    (VanHoaXaHoi, "Phòng Văn hóa – Xã hội"),
    (VanPhong, "Văn phòng HĐND-UBND"),
    (CongAn, "Công an"),
];

pub const TRIAGE_CODE: &str = "triage";
pub const TRIAGE_NAME: &str = "Bộ phận tiếp nhận và phân loại phản ánh";

/// `24943-kinh-te`
pub fn department_code(area_code: &str, kind: DepartmentKind) -> String {
    format!("{area_code}-{}", kind.slug())
}

const SEED_FACT: &str = "default_seed_applied_at";

/// What one application of the seed inserted (what was already there is left alone).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeedSummary {
    pub areas: usize,
    pub categories: usize,
    pub departments: usize,
    pub routing_rules: usize,
}

impl std::ops::Add for SeedSummary {
    type Output = SeedSummary;
    fn add(self, o: SeedSummary) -> SeedSummary {
        SeedSummary {
            areas: self.areas + o.areas,
            categories: self.categories + o.categories,
            departments: self.departments + o.departments,
            routing_rules: self.routing_rules + o.routing_rules,
        }
    }
}

impl SeedSummary {
    pub fn total(&self) -> usize {
        self.areas + self.categories + self.departments + self.routing_rules
    }
}

/// Applies the seed unless it was applied before (start-up). Returns `None` when skipped.
pub async fn apply_once(conn: &mut AsyncPgConnection) -> anyhow::Result<Option<SeedSummary>> {
    let done: Option<String> = deployment_facts::table
        .find(SEED_FACT)
        .select(deployment_facts::key)
        .first(conn)
        .await
        .optional()?;
    if done.is_some() {
        return Ok(None);
    }
    apply(conn).await.map(Some)
}

/// Inserts whatever of the default seed is missing, in one transaction.
pub async fn apply(conn: &mut AsyncPgConnection) -> anyhow::Result<SeedSummary> {
    let summary = conn
        .transaction::<_, diesel::result::Error, _>(async |conn| {
            let mut s = SeedSummary::default();
            let mut area_ids = Vec::new();
            for c in &COMMUNES {
                // Any area that ever had the code counts: a commune an admin retired stays retired.
                let id = match areas::find_latest_by_code(conn, c.code).await? {
                    Some(a) => a.id,
                    None => {
                        s.areas += 1;
                        let full_name = format!("Xã {}", c.name);
                        areas::insert(
                            conn,
                            &areas::NewArea {
                                id: Uuid::now_v7(),
                                code: c.code,
                                name: c.name,
                                full_name: Some(&full_name),
                                name_en: Some(c.name_en),
                                kind: AreaKind::Commune,
                                valid_from: areas::reorganisation_date(),
                                boundary: None,
                                centroid_lat: c.lat,
                                centroid_lon: c.lon,
                                bbox_min_lon: None,
                                bbox_min_lat: None,
                                bbox_max_lon: None,
                                bbox_max_lat: None,
                            },
                        )
                        .await?
                    }
                };
                area_ids.push((c, id));
            }

            for (i, c) in CATEGORIES.iter().enumerate() {
                let inserted = categories::insert_if_absent(
                    conn,
                    &categories::NewCategory {
                        id: Uuid::now_v7(),
                        code: c.code,
                        name_vi: c.name_vi,
                        name_en: c.name_en,
                        description: c.description,
                        deadline_amount: c.working_days,
                        deadline_unit: DeadlineUnit::WorkingDays,
                        urgent: c.urgent,
                        public: c.public,
                        sort_order: i32::try_from(i).unwrap_or(0) * 10,
                    },
                )
                .await?;
                s.categories += usize::from(inserted);
            }

            s.departments += usize::from(
                departments::insert_if_absent(
                    conn,
                    &departments::NewDepartment {
                        id: Uuid::now_v7(),
                        code: TRIAGE_CODE,
                        name: TRIAGE_NAME,
                        kind: DepartmentKind::Triage,
                        area_id: None,
                    },
                )
                .await?,
            );
            for (commune, area_id) in &area_ids {
                for (kind, name) in COMMUNE_DEPARTMENTS {
                    let code = department_code(commune.code, kind);
                    let name = format!("{name} xã {}", commune.name);
                    s.departments += usize::from(
                        departments::insert_if_absent(
                            conn,
                            &departments::NewDepartment {
                                id: Uuid::now_v7(),
                                code: &code,
                                name: &name,
                                kind,
                                area_id: Some(*area_id),
                            },
                        )
                        .await?,
                    );
                }
            }

            // Rules refer to whatever rows carry the seed's codes now (an admin may have
            // recreated one under the same code).
            for (commune, area_id) in &area_ids {
                for c in &CATEGORIES {
                    let (Some(category_id), Some(department_id)) = (
                        categories::id_by_code(conn, c.code).await?,
                        departments::id_by_code(conn, &department_code(commune.code, c.department))
                            .await?,
                    ) else {
                        continue;
                    };
                    s.routing_rules += usize::from(
                        routing_rules::insert_if_absent(
                            conn,
                            &routing_rules::NewRoutingRule {
                                id: Uuid::now_v7(),
                                category_id: Some(category_id),
                                area_id: Some(*area_id),
                                department_id,
                                priority: 0,
                                note: "default seed",
                            },
                        )
                        .await?,
                    );
                }
            }
            if let Some(triage) = departments::id_by_code(conn, TRIAGE_CODE).await? {
                s.routing_rules += usize::from(
                    routing_rules::insert_if_absent(
                        conn,
                        &routing_rules::NewRoutingRule {
                            id: Uuid::now_v7(),
                            category_id: None,
                            area_id: None,
                            department_id: triage,
                            priority: 0,
                            note: "default seed: anything no other rule routes goes to triage",
                        },
                    )
                    .await?,
                );
            }

            diesel::insert_into(deployment_facts::table)
                .values((
                    deployment_facts::key.eq(SEED_FACT),
                    deployment_facts::value.eq(serde_json::json!(chrono::Utc::now().to_rfc3339())),
                ))
                .on_conflict_do_nothing()
                .execute(conn)
                .await?;
            Ok(s)
        })
        .await?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn seed_matches_the_product_table() {
        assert_eq!(CATEGORIES.len(), 18);
        let codes: HashSet<_> = CATEGORIES.iter().map(|c| c.code).collect();
        assert_eq!(codes.len(), 18, "category codes are unique");
        let urgent: Vec<_> = CATEGORIES
            .iter()
            .filter(|c| c.urgent)
            .map(|c| c.code)
            .collect();
        assert_eq!(urgent, ["forest", "security", "disaster"]);
        assert!(urgent.iter().all(|code| {
            CATEGORIES
                .iter()
                .any(|c| c.code == *code && c.working_days == 1)
        }));
        let private: Vec<_> = CATEGORIES
            .iter()
            .filter(|c| !c.public)
            .map(|c| c.code)
            .collect();
        assert_eq!(private, ["security"]);
        assert_eq!(
            department_code("24943", DepartmentKind::KinhTe),
            "24943-kinh-te"
        );
    }
}
