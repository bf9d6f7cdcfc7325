//! IAM: whether the instance profiles a stack names exist (preflight).

use super::client::AwsCloud;
use crate::cloud::{instance_profile_name, CloudResult};

impl AwsCloud {
    /// Which of `profiles` (names or ARNs) GetInstanceProfile does not find. One call a
    /// profile: IAM has no batch read of instance profiles by name.
    pub(super) async fn missing_instance_profiles(
        &self,
        profiles: &[String],
    ) -> CloudResult<Vec<String>> {
        let mut missing = Vec::new();
        for p in profiles {
            let name = instance_profile_name(p);
            let request = self
                .iam
                .get_instance_profile()
                .instance_profile_name(name)
                .send();
            match self
                .call(
                    "IAM.GetInstanceProfile",
                    format!("instance profile {name}"),
                    request,
                )
                .await
            {
                Ok(_) => {}
                Err(e) if e.is_not_found() => missing.push(p.clone()),
                Err(e) => return Err(e),
            }
        }
        Ok(missing)
    }
}
