"""The promotion policy file, as a resource."""

import dagster as dg

from fti_assets.deployment.policy import DEFAULT_POLICY, LoadedPolicy, PolicyError, load_policy


class PolicyResource(dg.ConfigurableResource):
    """The promotion policy file the gates and the promotion read (``FTI_POLICY``, else the
    packaged ``fti_assets/deployment/policy.yaml``)."""

    path: str = str(DEFAULT_POLICY)

    def load(self) -> LoadedPolicy:
        """Read and validate the file now: a change applies from the next evaluation."""
        try:
            return load_policy(self.path)
        except PolicyError as exc:
            raise dg.Failure(str(exc)) from None
