//! Who must have a second factor (docs/security.md#second-factor-policy): référents and
//! platform administrators when `security.second_factor_for_administrators` is set, and every
//! account of a structure that requires it, the rule being inherited down the tree like the
//! e-mail domains. A référent follows the strictest rule among his own structure and the
//! structures he administers. The decision is a pure function of materialised paths; the
//! deadline (grace period) is recorded on the account the first time a rule applies to it.

use crate::directory::access::in_subtree;
use crate::directory::DResult;
use crate::state::Gateway;

/// Why an account must have a second factor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    /// The account is a référent or a platform administrator.
    Administrator,
    /// A structure (its path) requires it of every account in it and below it.
    Structure(String),
}

/// What the rule is decided on.
pub struct Facts<'a> {
    /// Path of the account's own structure ("/1/7/").
    pub own_path: &'a str,
    /// Paths of the structures the account is référent of.
    pub referent_paths: &'a [String],
    pub platform_admin: bool,
    /// Paths of the structures that require a second factor of every account.
    pub requiring: &'a [String],
    pub for_administrators: bool,
}

/// The rule that requires a second factor of this account, if any.
pub fn rule(f: &Facts<'_>) -> Option<Rule> {
    if f.for_administrators && (f.platform_admin || !f.referent_paths.is_empty()) {
        return Some(Rule::Administrator);
    }
    // The account's structure or one above it.
    if let Some(p) = f.requiring.iter().find(|r| in_subtree(f.own_path, r)) {
        return Some(Rule::Structure(p.clone()));
    }
    // A structure the référent administers: above it, or anywhere below it.
    f.requiring
        .iter()
        .find(|r| {
            f.referent_paths
                .iter()
                .any(|mine| in_subtree(mine, r) || in_subtree(r, mine))
        })
        .map(|p| Rule::Structure(p.clone()))
}

/// Where the account stands with the policy at sign-in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// No rule applies, or the account has a factor.
    Free,
    /// It must enrol by this time (unix seconds); before it, it may postpone.
    EnrolBy(i64),
}

/// The account's standing, recording its deadline the first time a rule applies (the grace
/// period starts then, not at each sign-in) and forgetting it once no rule applies.
pub async fn standing(
    gw: &Gateway,
    user_id: i64,
    platform_admin: bool,
    now: i64,
) -> DResult<Standing> {
    if super::has_factor(gw, user_id).await? {
        return Ok(Standing::Free);
    }
    let facts = gw.dir.second_factor_facts(user_id).await?;
    let policy = &gw.config.second_factor;
    let applies = rule(&Facts {
        own_path: &facts.own_path,
        referent_paths: &facts.referent_paths,
        platform_admin,
        requiring: &facts.requiring,
        for_administrators: policy.for_administrators,
    })
    .is_some();
    match (applies, facts.due) {
        (false, None) => Ok(Standing::Free),
        (false, Some(_)) => {
            gw.dir.set_second_factor_due(user_id, None).await?;
            Ok(Standing::Free)
        }
        (true, Some(due)) => Ok(Standing::EnrolBy(due)),
        (true, None) => {
            let due = now + policy.grace.as_secs() as i64;
            gw.dir.set_second_factor_due(user_id, Some(due)).await?;
            Ok(Standing::EnrolBy(due))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(
        own: &'a str,
        referent: &'a [String],
        requiring: &'a [String],
        admins: bool,
    ) -> Facts<'a> {
        Facts {
            own_path: own,
            referent_paths: referent,
            platform_admin: false,
            requiring,
            for_administrators: admins,
        }
    }

    #[test]
    fn administrators_follow_the_setting() {
        let refs = vec!["/2/".to_string()];
        assert_eq!(
            rule(&facts("/2/", &refs, &[], true)),
            Some(Rule::Administrator)
        );
        assert_eq!(rule(&facts("/2/", &refs, &[], false)), None);
        let mut admin = facts("/1/", &[], &[], true);
        admin.platform_admin = true;
        assert_eq!(rule(&admin), Some(Rule::Administrator));
        assert_eq!(
            rule(&facts("/2/", &[], &[], true)),
            None,
            "an agent is not concerned"
        );
    }

    #[test]
    fn a_structure_rule_is_inherited_down_the_tree_not_up_or_sideways() {
        let req = vec!["/2/".to_string()];
        for own in ["/2/", "/2/5/", "/2/5/9/"] {
            assert_eq!(
                rule(&facts(own, &[], &req, false)),
                Some(Rule::Structure("/2/".into()))
            );
        }
        for own in ["/1/", "/3/", "/22/"] {
            assert_eq!(rule(&facts(own, &[], &req, false)), None, "{own}");
        }
        let below = vec!["/2/5/".to_string()];
        assert_eq!(
            rule(&facts("/2/", &[], &below, false)),
            None,
            "a child's rule stays below"
        );
    }

    #[test]
    fn a_referent_follows_the_strictest_structure_he_administers() {
        let refs = vec!["/2/".to_string()];
        // A structure below his requires it: so does he, although his own does not.
        let below = vec!["/2/5/".to_string()];
        assert_eq!(
            rule(&facts("/1/", &refs, &below, false)),
            Some(Rule::Structure("/2/5/".into()))
        );
        // One above the structure he administers.
        let above = vec!["/9/".to_string()];
        let refs_deep = vec!["/9/4/".to_string()];
        assert_eq!(
            rule(&facts("/1/", &refs_deep, &above, false)),
            Some(Rule::Structure("/9/".into()))
        );
        // A sibling's rule does not reach him.
        let sibling = vec!["/3/".to_string()];
        assert_eq!(rule(&facts("/1/", &refs, &sibling, false)), None);
    }
}
