//! Teams: named groups of an organization's members, unique by slug within it.

pub mod model;
mod service;

pub(crate) use service::{find_team, insert_team_member};

pub use model::team::Model as Team;
pub use model::team_member::Model as TeamMember;
pub use service::{NewTeam, TeamUpdate};
