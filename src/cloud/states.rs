//! The states AWS reports, as types: an Auto Scaling instance's lifecycle and health, an EC2
//! instance's state, a target's health. Each reads AWS's own spelling (`InService`,
//! `shutting-down`, `unhealthy.draining`) and writes it back, in saved simulator state too;
//! a value AWS adds later is kept as `Other` rather than refused.

use std::fmt;

macro_rules! aws_state {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
            /// A state this version of reroll does not know, as AWS spelled it.
            Other(String),
        }

        impl $name {
            /// AWS's spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)*
                    $name::Other(text) => text,
                }
            }

            /// From AWS's spelling; anything else is `Other`.
            pub fn parse(text: &str) -> Self {
                match text {
                    $($text => $name::$variant,)*
                    other => $name::Other(other.to_string()),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                $name::parse(text)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Ok($name::parse(&text))
            }
        }
    };
}

aws_state! {
    /// Where an instance is in its Auto Scaling group's lifecycle.
    Lifecycle {
        Pending = "Pending",
        /// Held by a launching lifecycle hook.
        PendingWait = "Pending:Wait",
        PendingProceed = "Pending:Proceed",
        Quarantined = "Quarantined",
        InService = "InService",
        Terminating = "Terminating",
        /// Held by a terminating lifecycle hook.
        TerminatingWait = "Terminating:Wait",
        TerminatingProceed = "Terminating:Proceed",
        Terminated = "Terminated",
        Detaching = "Detaching",
        Detached = "Detached",
        EnteringStandby = "EnteringStandby",
        Standby = "Standby",
    }
}

aws_state! {
    /// Auto Scaling's health verdict on an instance.
    InstanceHealth {
        Healthy = "Healthy",
        Unhealthy = "Unhealthy",
    }
}

aws_state! {
    /// An EC2 instance's state.
    InstanceState {
        Pending = "pending",
        Running = "running",
        ShuttingDown = "shutting-down",
        Terminated = "terminated",
        Stopping = "stopping",
        Stopped = "stopped",
    }
}

aws_state! {
    /// A target's health in a target group.
    TargetState {
        Initial = "initial",
        Healthy = "healthy",
        Unhealthy = "unhealthy",
        UnhealthyDraining = "unhealthy.draining",
        Unused = "unused",
        Draining = "draining",
        Unavailable = "unavailable",
    }
}

impl Lifecycle {
    /// Launching: pending, or held or released by a launching lifecycle hook.
    pub fn is_pending(&self) -> bool {
        use Lifecycle::*;
        matches!(self, Pending | PendingWait | PendingProceed)
    }

    /// On its way out of the group by the group's own hand: detaching or terminating (or
    /// already detached or terminated).
    pub fn is_leaving(&self) -> bool {
        use Lifecycle::*;
        matches!(
            self,
            Detaching | Detached | Terminating | TerminatingWait | TerminatingProceed | Terminated
        )
    }

    /// Terminating, held by a terminating lifecycle hook, or terminated.
    pub fn is_terminating(&self) -> bool {
        use Lifecycle::*;
        matches!(
            self,
            Terminating | TerminatingWait | TerminatingProceed | Terminated
        )
    }
}

impl InstanceState {
    /// Pending or running: an instance that exists and counts.
    pub fn is_live(&self) -> bool {
        matches!(self, InstanceState::Pending | InstanceState::Running)
    }
}

impl TargetState {
    /// Leaving the target group: draining, or draining after failing its checks.
    pub fn is_draining(&self) -> bool {
        matches!(self, TargetState::Draining | TargetState::UnhealthyDraining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_and_write_aws_spelling() {
        for (text, lifecycle) in [
            ("InService", Lifecycle::InService),
            ("Pending:Wait", Lifecycle::PendingWait),
            ("Terminating:Wait", Lifecycle::TerminatingWait),
            (
                "Warmed:Hibernated",
                Lifecycle::Other("Warmed:Hibernated".into()),
            ),
        ] {
            assert_eq!(Lifecycle::parse(text), lifecycle);
            assert_eq!(lifecycle.as_str(), text);
            let json = serde_json::to_string(&lifecycle).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<Lifecycle>(&json).unwrap(), lifecycle);
        }
        assert_eq!(
            TargetState::parse("unhealthy.draining"),
            TargetState::UnhealthyDraining
        );
        assert!(TargetState::UnhealthyDraining.is_draining());
        assert!(Lifecycle::PendingWait.is_pending() && !Lifecycle::InService.is_pending());
        assert!(Lifecycle::Detached.is_leaving() && Lifecycle::TerminatingWait.is_leaving());
        assert!(!Lifecycle::Standby.is_leaving() && !Lifecycle::Detaching.is_terminating());
        assert!(InstanceState::parse("pending").is_live());
        assert!(!InstanceState::parse("shutting-down").is_live());
    }

    fn instance(lifecycle: &str, health: &str) -> crate::cloud::GroupInstance {
        crate::cloud::GroupInstance {
            id: "i-1".into(),
            lifecycle_state: Lifecycle::parse(lifecycle),
            health_status: InstanceHealth::parse(health),
            availability_zone: None,
            launch_template_version: None,
        }
    }

    #[test]
    fn saved_instances_and_targets_keep_aws_spelling() {
        let i = instance("Pending:Wait", "Healthy");
        let json = serde_json::to_value(&i).unwrap();
        assert_eq!(json["lifecycle_state"], "Pending:Wait");
        assert_eq!(json["health_status"], "Healthy");
        assert_eq!(
            serde_json::from_value::<crate::cloud::GroupInstance>(json).unwrap(),
            i
        );
        let target: crate::cloud::TargetHealth = serde_json::from_str(
            r#"{"id":"i-1","port":80,"state":"unhealthy.draining","reason":null}"#,
        )
        .unwrap();
        assert_eq!(target.state, TargetState::UnhealthyDraining);
        assert_eq!(
            serde_json::to_value(&target).unwrap()["state"],
            "unhealthy.draining"
        );
    }

    #[test]
    fn serving_is_in_service_and_healthy_in_every_target_group() {
        let healthy = TargetState::Healthy;
        let draining = TargetState::Draining;
        let up = instance("InService", "Healthy");
        assert!(up.in_service());
        assert!(up.serving([]));
        assert!(up.serving([Some(&healthy), Some(&healthy)]));
        assert!(!up.serving([Some(&healthy), None]));
        assert!(!up.serving([Some(&healthy), Some(&draining)]));
        for not_in_service in [
            instance("InService", "Unhealthy"),
            instance("Pending:Wait", "Healthy"),
            instance("Standby", "Healthy"),
        ] {
            assert!(!not_in_service.in_service(), "{not_in_service:?}");
            assert!(!not_in_service.serving([Some(&healthy)]));
        }
    }
}
