//! What a role may do, laid out for an interface that offers only what would be allowed.
//!
//! The rules themselves stay where they are decided (the role table in `access`, the order
//! status machine in `order`, prescription status changes in `rx`); this module only reads them
//! out for one role, so that a window never keeps a copy of its own. The engine still checks
//! every action when it is taken: an offer is a courtesy, not a permission.

use serde::Serialize;

use crate::access::{Role, perm};
use crate::order::{OrderAction, OrderStatus, transition};
use crate::rx::RxStatus;

/// Everything a window needs to decide which buttons to offer a signed-in user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Abilities {
    pub role: Role,
    /// Every named permission (`resource:action`) the role holds.
    pub permissions: Vec<String>,
    /// Every move of the order status machine, with whether this role may make it.
    pub order_actions: Vec<OrderMove>,
    /// Every prescription status change, with whether this role may make it.
    pub rx_status_changes: Vec<RxStatusChange>,
}

/// One move of the order status machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct OrderMove {
    pub from: OrderStatus,
    pub action: OrderAction,
    pub to: OrderStatus,
    /// Whether the role holds one of the permissions this move asks for.
    pub permitted: bool,
    /// Whether the move must say why (a cancel or a remake).
    pub needs_reason: bool,
}

/// One prescription status change after entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RxStatusChange {
    pub from: RxStatus,
    pub to: RxStatus,
    pub permitted: bool,
}

impl Abilities {
    /// The abilities of `role`, read from the rules.
    pub fn of(role: Role) -> Self {
        let permissions = perm::ALL
            .into_iter()
            .filter(|p| role.allows(*p))
            .map(|p| p.to_string())
            .collect();
        let order_actions = OrderStatus::ALL
            .into_iter()
            .flat_map(|from| {
                OrderAction::ALL.into_iter().filter_map(move |action| {
                    let to = transition(from, action).ok()?;
                    Some(OrderMove {
                        from,
                        action,
                        to,
                        permitted: action.permissions(from).iter().any(|p| role.allows(*p)),
                        needs_reason: action.needs_reason(),
                    })
                })
            })
            .collect();
        let write_rx = role.allows(perm::PRESCRIPTIONS_WRITE);
        let rx_status_changes = RxStatus::ALL
            .into_iter()
            .flat_map(|from| {
                RxStatus::ALL
                    .into_iter()
                    .filter(move |to| from.may_become(*to))
                    .map(move |to| RxStatusChange {
                        from,
                        to,
                        permitted: write_rx,
                    })
            })
            .collect();
        Self {
            role,
            permissions,
            order_actions,
            rx_status_changes,
        }
    }

    /// Whether the role holds `permission` (`resource:action`).
    pub fn holds(&self, permission: &str) -> bool {
        self.permissions.iter().any(|p| p == permission)
    }

    /// The order actions this role may take from `from`.
    pub fn order_actions_from(&self, from: OrderStatus) -> impl Iterator<Item = OrderAction> + '_ {
        self.order_actions
            .iter()
            .filter(move |m| m.from == from && m.permitted)
            .map(|m| m.action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_permission_list_names_every_permission_declared() {
        let source = include_str!("access.rs");
        let declared = source
            .lines()
            .filter(|l| l.contains(": Permission = Permission::new("))
            .count();
        assert_eq!(
            declared,
            perm::ALL.len(),
            "perm::ALL must list every permission"
        );
    }

    #[test]
    fn an_ecp_submits_and_remakes_but_does_not_run_production() {
        let ecp = Abilities::of(Role::Ecp);
        let from_draft: Vec<_> = ecp.order_actions_from(OrderStatus::Draft).collect();
        assert_eq!(from_draft, [OrderAction::Submit, OrderAction::Cancel]);
        assert_eq!(
            ecp.order_actions_from(OrderStatus::Submitted)
                .collect::<Vec<_>>(),
            [OrderAction::Cancel]
        );
        assert_eq!(
            ecp.order_actions_from(OrderStatus::InProduction).count(),
            0,
            "a cancel once production started is the lab's"
        );
        assert_eq!(
            ecp.order_actions_from(OrderStatus::Delivered)
                .collect::<Vec<_>>(),
            [OrderAction::Remake]
        );
        assert!(ecp.holds("prescriptions:write"));
        assert!(!ecp.holds("users:read"));
        assert!(ecp.rx_status_changes.iter().all(|c| c.permitted));
    }

    #[test]
    fn a_lab_technician_moves_orders_through_production() {
        let lab = Abilities::of(Role::LabTech);
        assert_eq!(
            lab.order_actions_from(OrderStatus::Submitted)
                .collect::<Vec<_>>(),
            [OrderAction::StartProduction, OrderAction::Cancel]
        );
        assert_eq!(
            lab.order_actions_from(OrderStatus::Draft)
                .collect::<Vec<_>>(),
            [OrderAction::Cancel],
            "a draft is not the lab's to submit, but either side may cancel it"
        );
        assert!(lab.rx_status_changes.iter().all(|c| !c.permitted));
    }

    #[test]
    fn every_move_offered_is_one_the_status_machine_makes() {
        for role in Role::ALL {
            let abilities = Abilities::of(role);
            for m in &abilities.order_actions {
                assert_eq!(transition(m.from, m.action).ok(), Some(m.to));
                assert_eq!(m.needs_reason, m.action.needs_reason());
            }
            for c in &abilities.rx_status_changes {
                assert!(c.from.may_become(c.to));
            }
        }
        let admin = Abilities::of(Role::CompanyAdmin);
        assert!(admin.order_actions.iter().all(|m| !m.permitted));
        assert!(admin.holds("users:create") && admin.holds("patients:read"));
        assert_eq!(
            Abilities::of(Role::PlatformAdmin).permissions.len(),
            perm::ALL.len()
        );
        // The end states are final.
        assert!(
            admin
                .rx_status_changes
                .iter()
                .all(|c| !matches!(c.from, RxStatus::Cancelled | RxStatus::EnteredInError))
        );
    }
}
