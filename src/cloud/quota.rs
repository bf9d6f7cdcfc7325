//! Which account quota a launch counts against: EC2's On-Demand vCPU quotas per instance
//! family, as Service Quotas names them. Preflight compares a plan with them; the simulator
//! refuses launches beyond them as EC2 does.

/// The On-Demand vCPU quota an instance family counts against (Service Quotas, service `ec2`).
pub fn vcpu_quota(instance_type: &str) -> (&'static str, &'static str) {
    let family = instance_type.split('.').next().unwrap_or_default();
    let letters: String = family
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    match letters.as_str() {
        "f" => ("L-74FC7D96", "Running On-Demand F instances"),
        "g" | "vt" => ("L-DB2E81BA", "Running On-Demand G and VT instances"),
        "inf" => ("L-1945791B", "Running On-Demand Inf instances"),
        "p" => ("L-417A185B", "Running On-Demand P instances"),
        "x" => ("L-7295265B", "Running On-Demand X instances"),
        "dl" => ("L-6E869C2A", "Running On-Demand DL instances"),
        "trn" => ("L-2C3B7624", "Running On-Demand Trn instances"),
        "u" => ("L-43DA4232", "Running On-Demand High Memory instances"),
        _ => (
            "L-1216C47A",
            "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances",
        ),
    }
}
